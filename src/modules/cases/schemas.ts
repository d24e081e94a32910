import { z } from 'zod';
import { text, uuid } from '../../http/validate.js';
import { at, id, oneOf } from '../../http/shapes.js';

// What the case routes take and answer (src/modules/cases/routes.ts); the console's case pages
// parse with the same schemas.

export const createCaseBody = z.strictObject({ subjectId: uuid, title: text(200) });
export const addMemberBody = z.strictObject({ user: z.string().trim().min(1).max(200) });
export const memberParams = z.strictObject({ id: uuid, userId: uuid });

export const CaseMember = z.object({ userId: id, username: z.string(), agency: z.string(), role: z.string(), addedAt: at }).meta({ id: 'CaseMember' });

export const Case = z
  .object({
    id,
    subjectId: id,
    title: z.string(),
    status: oneOf(['open', 'closed']),
    createdAt: at.optional(),
    closedAt: at.nullable().optional(),
    members: z.array(CaseMember).optional(),
    participants: z
      .array(z.object({ agency: z.string(), joinedAt: at }))
      .meta({ description: 'The agencies that brought their records into the case.' })
      .optional(),
  })
  .meta({ id: 'Case' });
