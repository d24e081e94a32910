import { Router } from 'express';
import { z } from 'zod';
import type { AppDeps } from '../../deps.js';
import { AUDIT_ACTIONS as A } from '../../audit/vocabulary.js';
import { idParams, text, validate } from '../../http/validate.js';
import { APPROVAL_DECISIONS, decideApproval, listApprovals } from './service.js';

const MAX_QUEUE = 200;

export const approvalsQuery = z.strictObject({
  status: z.enum(['pending', 'decided', 'all']).default('pending'),
  limit: z.coerce.number().int().min(1).max(MAX_QUEUE).default(50),
});
export const decisionBody = z.strictObject({ decision: z.enum(APPROVAL_DECISIONS), note: text(2000).optional() });

/**
 * GET /v1/audit/approvals and POST /v1/audit/approvals/:id/decision: the compliance officer's
 * queue of operators' four-eyes requests (SPEC principles 10 and 14). A decision is final (a
 * changed mind is a new request), is logged with its ids, and takes effect in the transaction
 * that records it; who may decide is the decision point's rule.
 */
export function approvalsRouter({ pdp, runner }: Pick<AppDeps, 'pdp' | 'runner'>): Router {
  const router = Router();

  router.get('/approvals', pdp.authorize('read', 'AuditEvent', A.auditApprovalsRead), validate({ query: approvalsQuery }), async (req, res) => {
    const { status, limit } = res.locals.query as z.infer<typeof approvalsQuery>;
    const list = await runner.run(req, A.auditApprovalsRead, (scope) => listApprovals(scope, status, limit));
    res.json({ status, approvals: list });
  });

  router.post(
    '/approvals/:id/decision',
    pdp.authorize('read', 'AuditEvent', A.approvalDecide),
    validate({ params: idParams, body: decisionBody }),
    async (req, res) => {
      const id: string = res.locals.params.id;
      const { decision, note: text } = req.body as z.infer<typeof decisionBody>;
      res.json(await runner.run(req, A.approvalDecide, (scope) => decideApproval(scope, pdp, req.user!, id, decision, text)));
    },
  );

  return router;
}
