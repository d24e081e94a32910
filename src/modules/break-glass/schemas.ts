import { z } from 'zod';
import { TIERS } from '../../authz/vocabulary.js';
import { at, id, oneOf } from '../../http/shapes.js';

// What a declaration answers (src/modules/break-glass/routes.ts); its body depends on the policy's
// reason rules and is built there.

export const BreakGlassGrant = z
  .object({ id, subjectId: id, tier: oneOf(TIERS), expiresAt: at, renewalOf: id.meta({ description: 'A renewal: the live grant it renews.' }).optional() })
  .meta({ id: 'BreakGlassGrant' });
