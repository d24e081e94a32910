import { Router } from 'express';
import { aliasedTable, and, desc, eq, inArray, ne, type SQL } from 'drizzle-orm';
import { z } from 'zod';
import type { AppDeps } from '../../app.js';
import { issueApprovalCode } from '../../auth/enrolment.js';
import type { Principal } from '../../auth/principal.js';
import { endUserSessions } from '../../auth/user-sessions.js';
import type { AuditScope } from '../../audit/audited.js';
import { AUDIT_ACTIONS as A } from '../../audit/vocabulary.js';
import { roleRule, type Policy } from '../../authz/policy.js';
import type { AgencyKind } from '../../authz/vocabulary.js';
import type { Executor } from '../../db/client.js';
import { agencies, approvals, clients, users } from '../../db/schema/index.js';
import { Conflict, Forbidden, NotFound } from '../../errors/problems.js';
import { idParams, text, validate } from '../../http/validate.js';
import { ENROLMENT_CODE_HOURS } from '../admin/service.js';

export const APPROVAL_DECISIONS = ['approve', 'reject'] as const;
const MAX_QUEUE = 200;

export const approvalsQuery = z.strictObject({
  status: z.enum(['pending', 'decided', 'all']).default('pending'),
  limit: z.coerce.number().int().min(1).max(MAX_QUEUE).default(50),
});
export const decisionBody = z.strictObject({ decision: z.enum(APPROVAL_DECISIONS), note: text(2000).optional() });

const requester = aliasedTable(users, 'requester');
const decider = aliasedTable(users, 'decider');
const target = aliasedTable(users, 'target');

const columns = {
  id: approvals.id,
  kind: approvals.kind,
  status: approvals.status,
  agency: agencies.slug,
  agencyKind: agencies.kind,
  userId: approvals.userId,
  username: target.username,
  clientRowId: approvals.clientId,
  clientId: clients.clientId,
  change: approvals.change,
  requestedBy: approvals.requestedBy,
  requestedByName: approvals.requestedByName,
  requestedAt: approvals.requestedAt,
  decidedBy: approvals.decidedBy,
  decidedByName: decider.username,
  decidedAt: approvals.decidedAt,
  note: approvals.note,
};

function selectApprovals(db: Executor, where: SQL | undefined) {
  return db
    .select(columns)
    .from(approvals)
    .innerJoin(agencies, eq(agencies.id, approvals.agencyId))
    .leftJoin(target, eq(target.id, approvals.userId))
    .leftJoin(clients, eq(clients.id, approvals.clientId))
    .leftJoin(requester, eq(requester.id, approvals.requestedBy))
    .leftJoin(decider, eq(decider.id, approvals.decidedBy))
    .where(where);
}
type ApprovalRow = Awaited<ReturnType<typeof selectApprovals>>[number];

/** One request as a compliance officer sees it: what changes, for whom, asked by whom; no secrets. */
function present(r: ApprovalRow) {
  return {
    id: r.id,
    kind: r.kind,
    status: r.status,
    agency: r.agency,
    ...(r.userId ? { user: { user: r.username, userId: r.userId } } : {}),
    ...(r.clientId ? { client: r.clientId } : {}),
    change: r.change,
    requestedBy: { user: r.requestedByName, userId: r.requestedBy },
    requestedAt: r.requestedAt,
    decidedBy: r.decidedBy ? { user: r.decidedByName, userId: r.decidedBy } : null,
    decidedAt: r.decidedAt,
    note: r.note,
  };
}

/**
 * The two-role rule, checked on every decision: the approver audits and does not administer
 * (a role with both permissions cannot approve), did not ask for the change, and is not its subject.
 */
function assertMayDecide(policy: Policy, principal: Principal, row: ApprovalRow): void {
  const permissions = roleRule(policy, principal.agencyKind, principal.role)?.permissions ?? [];
  if (!permissions.includes('audit') || permissions.includes('admin')) throw new Forbidden('approver-administers');
  if (row.requestedBy === principal.userId) throw new Forbidden('approver-requested');
  if (row.userId === principal.userId) throw new Forbidden('approver-is-subject');
}

/** Makes an approved request take effect; returns what the approver must hand over, if anything. */
async function apply(tx: Executor, policy: Policy, row: ApprovalRow): Promise<{ approvalCode?: string }> {
  const change = row.change as { role?: string; previousRole?: string; userIds?: string[] };
  switch (row.kind) {
    case 'user.invite': {
      await tx.update(users).set({ approval: 'approved' }).where(eq(users.id, row.userId!));
      // The second half of the enrolment, for the approver to hand to the person by another channel.
      return { approvalCode: await issueApprovalCode(tx, row.userId!, ENROLMENT_CODE_HOURS) };
    }
    case 'user.role': {
      const [user] = await tx.select({ role: users.role, disabledAt: users.disabledAt }).from(users).where(eq(users.id, row.userId!)).for('update');
      if (!user || user.disabledAt) throw new Conflict('The user is disabled.');
      if (user.role !== change.previousRole) throw new Conflict('The role changed since the request; it no longer says what it changes.');
      if (!roleRule(policy, row.agencyKind as AgencyKind, change.role!)) throw new Conflict('The policy no longer defines the role.');
      await tx.update(users).set({ role: change.role! }).where(eq(users.id, row.userId!));
      await endUserSessions(tx, row.userId!);
      return {};
    }
    case 'client.register':
      await tx.update(clients).set({ approval: 'approved' }).where(eq(clients.id, row.clientRowId!));
      return {};
    case 'client.users': {
      const ids = change.userIds ?? [];
      const [client] = await tx.select({ agencyId: clients.agencyId }).from(clients).where(eq(clients.id, row.clientRowId!));
      const usable = ids.length
        ? await tx
            .select({ id: users.id })
            .from(users)
            .where(and(inArray(users.id, ids), eq(users.agencyId, client!.agencyId), eq(users.kind, 'person'), eq(users.approval, 'approved')))
        : [];
      if (usable.length !== ids.length) throw new Conflict('A listed user is no longer an approved person of the client’s agency.');
      await tx.update(clients).set({ allowedUserIds: ids }).where(eq(clients.id, row.clientRowId!));
      return {};
    }
    default:
      throw new Conflict('Unknown kind of request.');
  }
}

/** Undoes what a rejected request had already put in place (a pending account or client never activates). */
async function reject(tx: Executor, row: ApprovalRow): Promise<void> {
  if (row.kind === 'user.invite') {
    await tx
      .update(users)
      .set({ approval: 'rejected', disabledAt: new Date(), enrolmentCodeHash: null, enrolmentExpiresAt: null })
      .where(eq(users.id, row.userId!));
  } else if (row.kind === 'client.register') {
    await tx.update(clients).set({ approval: 'rejected', disabledAt: new Date() }).where(eq(clients.id, row.clientRowId!));
  }
}

/** The queue, newest first (`pending`, `decided` or `all`), under the caller's audited transaction. */
export async function listApprovals({ tx, note }: AuditScope, status: z.infer<typeof approvalsQuery>['status'], limit: number) {
  const where = status === 'pending' ? eq(approvals.status, 'pending') : status === 'decided' ? ne(approvals.status, 'pending') : undefined;
  const list = await selectApprovals(tx, where).orderBy(desc(approvals.requestedAt), desc(approvals.id)).limit(limit);
  note({ basis: [{ rule: 'audit' }], detail: { status, returned: list.length } });
  return list.map(present);
}

/**
 * One decision, final, under the caller's audited transaction: the two-role rule is checked, the
 * change takes effect (or is undone) in the same transaction, and an approved invitation returns
 * the approval code once. The API route and the console both decide through here.
 */
export async function decideApproval(
  { tx, note }: AuditScope,
  policy: Policy,
  principal: Principal,
  id: string,
  decision: (typeof APPROVAL_DECISIONS)[number],
  text?: string,
) {
  note({ basis: [{ rule: 'audit' }], detail: { approvalId: id, decision } });
  const [locked] = await tx.select({ id: approvals.id }).from(approvals).where(eq(approvals.id, id)).for('update');
  if (!locked) throw new NotFound('approval');
  const [row] = await selectApprovals(tx, eq(approvals.id, id));
  note({
    detail: {
      approvalId: id,
      decision,
      kind: row!.kind,
      ...(row!.userId ? { userId: row!.userId } : {}),
      ...(row!.clientId ? { clientId: row!.clientId } : {}),
    },
  });
  assertMayDecide(policy, principal, row!);
  if (row!.status !== 'pending') throw new Conflict('The request has been decided already.');
  const handover = decision === 'approve' ? await apply(tx, policy, row!) : (await reject(tx, row!), {});
  // The note is the approver's free text: it stays in the approval, not in the log.
  await tx
    .update(approvals)
    .set({ status: decision === 'approve' ? 'approved' : 'rejected', decidedBy: principal.userId, decidedAt: new Date(), note: text ?? null })
    .where(eq(approvals.id, id));
  const [decided] = await selectApprovals(tx, eq(approvals.id, id));
  return { ...present(decided!), ...handover };
}

/**
 * GET /v1/audit/approvals and POST /v1/audit/approvals/:id/decision: the compliance officer's
 * queue of operators' changes to partner accounts and clients (SPEC principle 10). A decision is
 * final (a changed mind is a new request), is logged with its ids, and takes effect in the
 * transaction that records it.
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
      res.json(await runner.run(req, A.approvalDecide, (scope) => decideApproval(scope, pdp.policy, req.user!, id, decision, text)));
    },
  );

  return router;
}
