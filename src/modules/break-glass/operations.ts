import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import type { Policy } from '../../authz/policy.js';
import { documentOperation } from '../../http/route.js';
import { idParams } from '../../http/validate.js';
import { breakGlassBody } from './routes.js';
import { BreakGlassGrant } from './schemas.js';

// The declaration's operation, while its router (routes.ts) is not yet declared with defineRoute
// (its decision is being moved into the decision point on another branch). When it is, this moves
// into the route's declaration and this file goes.

export function documentBreakGlassRoutes(registry: OpenAPIRegistry, policy: Policy): void {
  documentOperation(
    registry,
    { prefix: '/subjects', tag: 'break-glass' },
    {
      method: 'post',
      path: '/:id/break-glass',
      operationId: 'breakGlass',
      summary: 'Declare an emergency: a temporary elevated tier, flagged in the log and queued for review',
      params: idParams,
      body: breakGlassBody(policy.breakGlass),
      description:
        'One live grant per user and person: a second while one is live is 409 unless `renew` is true with a new reason (a renewal is flagged in the log and the review queue); at most `breakGlass.maxPerDay` declarations per user in any 24 hours (403).',
      problems: [409],
      responses: { 201: { description: 'Granted', schema: BreakGlassGrant } },
    },
  );
}
