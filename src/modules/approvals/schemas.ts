import { z } from 'zod';
import { APPROVAL_EFFECTS, APPROVAL_KINDS } from '../../db/schema/index.js';
import { anyObject, at, id, oneOf } from '../../http/shapes.js';
import { text } from '../../http/validate.js';
import { APPROVAL_DECISIONS } from './service.js';

// What the approvals queue takes and answers (src/modules/approvals/routes.ts); the console's
// approvals page parses with the same schemas.

const MAX_QUEUE = 200;

export const approvalsQuery = z.strictObject({
  status: z.enum(['pending', 'decided', 'all']).default('pending'),
  limit: z.coerce.number().int().min(1).max(MAX_QUEUE).default(50),
});
export const decisionBody = z.strictObject({ decision: z.enum(APPROVAL_DECISIONS), note: text(2000).optional() });

export const Approval = z
  .object({
    id,
    kind: z.enum(APPROVAL_KINDS),
    status: oneOf(['pending', 'approved', 'rejected']),
    effect: oneOf(APPROVAL_EFFECTS).meta({
      description: '`on-approval`: happens only when approved. `at-once`: already happened (it only took rights away); the decision is a review.',
    }),
    agency: z.string().nullable(),
    user: z.object({ user: z.string().nullable(), userId: id }).optional(),
    client: z.string().optional(),
    change: anyObject,
    requestedBy: z.object({ user: z.string(), userId: id.nullable() }),
    requestedAt: at,
    decidedBy: z.object({ user: z.string().nullable(), userId: id }).nullable(),
    decidedAt: at.nullable(),
    note: z.string().nullable(),
    approvalCode: z.string().meta({ description: 'An approved invitation only: the second half of the enrolment, shown once.' }).optional(),
    enrolmentCode: z
      .string()
      .meta({ description: 'An approved second-factor reset only: the code the user re-enrols with (with their current password), shown once.' })
      .optional(),
  })
  .meta({ id: 'Approval' });
