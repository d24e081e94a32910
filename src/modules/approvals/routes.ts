import { z } from 'zod';
import { AUDIT_ACTIONS as A } from '../../audit/vocabulary.js';
import type { AppDeps } from '../../deps.js';
import { defineRoute, type Route } from '../../http/route.js';
import { idParams } from '../../http/validate.js';
import { Approval, approvalsQuery, decisionBody } from './schemas.js';
import { decideApproval, listApprovals } from './service.js';

/**
 * GET /v1/audit/approvals and POST /v1/audit/approvals/:id/decision: the compliance officer's
 * queue of operators' four-eyes requests (SPEC principles 10 and 14). A decision is final (a
 * changed mind is a new request), is logged with its ids, and takes effect in the transaction
 * that records it; who may decide is the decision point's rule. Mounted in the audit group.
 */
export function approvalsRoutes({ pdp, runner }: Pick<AppDeps, 'pdp' | 'runner'>): Route[] {
  return [
    defineRoute({
      method: 'get',
      path: '/approvals',
      operationId: 'listApprovals',
      summary: "The approvals queue: operators' changes to partner accounts and clients and to approvers, and changes made at once for review",
      authorize: { action: 'read', type: 'AuditEvent', audit: A.auditApprovalsRead },
      query: approvalsQuery,
      responses: { 200: { description: 'Requests', schema: z.object({ status: z.string(), approvals: z.array(Approval) }) } },
      handler: async ({ req, query: { status, limit } }) => {
        const list = await runner.run(req, A.auditApprovalsRead, (scope) => listApprovals(scope, status, limit));
        return { status: 200, body: { status, approvals: list } };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/approvals/:id/decision',
      operationId: 'decideApproval',
      summary: 'Approve or reject a request (a compliance officer who does not administer and did not ask for it)',
      authorize: { action: 'read', type: 'AuditEvent', audit: A.approvalDecide },
      params: idParams,
      body: decisionBody,
      problems: [409],
      responses: { 200: { description: 'Decided; an approved invitation carries the approver’s half of the enrolment, shown once', schema: Approval } },
      handler: async ({ req, principal, params, body }) => ({
        status: 200,
        body: await runner.run(req, A.approvalDecide, (scope) => decideApproval(scope, pdp, principal, params.id, body.decision, body.note)),
      }),
    }),
  ];
}
