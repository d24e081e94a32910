import { aliasedTable, and, desc, eq, inArray, ne, sql, type SQL } from 'drizzle-orm';
import type { AuditScope } from '../../audit/audited.js';
import type { Principal } from '../../auth/principal.js';
import type { DecisionPoint } from '../../authz/decide.js';
import type { Policy } from '../../authz/policy.js';
import type { AgencyKind } from '../../authz/vocabulary.js';
import type { Executor } from '../../db/client.js';
import { agencies, approvals, bootstrapSteps, clients, users } from '../../db/schema/index.js';
import { BadRequest, Conflict, NotFound } from '../../errors/problems.js';
import { APPROVAL_RULES, audits, type ApprovalKind, type ChangeFacts, type Need } from './kinds.js';

export const APPROVAL_DECISIONS = ['approve', 'reject'] as const;
export type ApprovalDecision = (typeof APPROVAL_DECISIONS)[number];
export type ApprovalStatusFilter = 'pending' | 'decided' | 'all';

/**
 * Who asks: the admin's principal over HTTP, the operator named with `--operator` at the CLI.
 * A request that waits for approval always names one, so that its decider can be shown to be
 * someone else.
 */
export interface Operator {
  userId: string;
  username: string;
  agencyId: string;
}

const requester = aliasedTable(users, 'requester');
const decider = aliasedTable(users, 'decider');
const target = aliasedTable(users, 'target');

const columns = {
  id: approvals.id,
  kind: approvals.kind,
  status: approvals.status,
  effect: approvals.effect,
  agency: agencies.slug,
  agencyKind: agencies.kind,
  userId: approvals.userId,
  username: target.username,
  clientRowId: approvals.clientId,
  clientId: clients.clientId,
  clientServiceUserId: clients.serviceUserId,
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
    .leftJoin(agencies, eq(agencies.id, approvals.agencyId))
    .leftJoin(target, eq(target.id, approvals.userId))
    .leftJoin(clients, eq(clients.id, approvals.clientId))
    .leftJoin(requester, eq(requester.id, approvals.requestedBy))
    .leftJoin(decider, eq(decider.id, approvals.decidedBy))
    .where(where);
}
type ApprovalRow = Awaited<ReturnType<typeof selectApprovals>>[number];

/** One request as a compliance officer sees it: what changes, for whom, asked by whom, whether it already happened; no secrets. */
function present(r: ApprovalRow) {
  return {
    id: r.id,
    kind: r.kind as ApprovalKind,
    status: r.status,
    effect: r.effect,
    agency: r.agency,
    ...(r.userId ? { user: { user: r.username, userId: r.userId } } : {}),
    ...(r.clientId ? { client: r.clientId } : {}),
    // jsonb, written only by requestApproval from a kind's typed change.
    change: r.change as Record<string, unknown>,
    requestedBy: { user: r.requestedByName, userId: r.requestedBy },
    requestedAt: r.requestedAt,
    decidedBy: r.decidedBy ? { user: r.decidedByName, userId: r.decidedBy } : null,
    decidedAt: r.decidedAt,
    note: r.note,
  };
}
export type ApprovalView = ReturnType<typeof present>;

/** What the kind's rule says of this change. */
export const needOf = (policy: Policy, kind: ApprovalKind, facts: ChangeFacts): Need => APPROVAL_RULES[kind].needs(policy, facts);

/**
 * The deployment's one bootstrap auditor: an auditing account (`userId`, just created) that takes
 * effect without approval because nobody could approve it yet. Granted once, and only while no
 * auditing person exists; the step is recorded either way the first time an auditing account is
 * asked for, so it never re-opens (not when every auditor is later disabled or demoted).
 */
export async function claimBootstrapAuditor(tx: Executor, policy: Policy, kind: AgencyKind, userId: string): Promise<boolean> {
  const auditRoles = Object.keys(policy.roles[kind] ?? {}).filter((r) => audits(policy, kind, r));
  const [existing] = await tx
    .select({ id: users.id })
    .from(users)
    .innerJoin(agencies, eq(agencies.id, users.agencyId))
    .where(and(eq(agencies.kind, kind), inArray(users.role, auditRoles), eq(users.kind, 'person'), ne(users.id, userId)))
    .limit(1);
  const claimed = await tx
    .insert(bootstrapSteps)
    .values({ step: 'first-auditor', userId: existing ? null : userId })
    .onConflictDoNothing()
    .returning({ step: bootstrapSteps.step });
  if (claimed.length !== 1 || existing) return false;
  await tx.update(users).set({ approverBasis: 'bootstrap' }).where(eq(users.id, userId));
  return true;
}

/**
 * Queues a request: `approval` waits, `review` records what already happened. A waiting request
 * for the same thing is a conflict. Every request names its operator.
 */
export async function requestApproval(
  tx: Executor,
  operator: Operator | undefined,
  request: { kind: ApprovalKind; need: Exclude<Need, 'none'>; agencyId: string; userId?: string; clientId?: string; change: Record<string, unknown> },
): Promise<string> {
  if (!operator) {
    throw new BadRequest(
      'A change that a compliance officer approves or reviews must name the operator who asks (at the command line: --operator <username>).',
      [{ path: 'operator', message: 'required' }],
    );
  }
  const { need, ...values } = request;
  const [row] = await tx
    .insert(approvals)
    .values({ ...values, effect: need === 'approval' ? 'on-approval' : 'at-once', requestedBy: operator.userId, requestedByName: operator.username })
    .onConflictDoNothing()
    .returning({ id: approvals.id });
  if (!row) throw new Conflict('A request for this change already waits for a compliance officer.');
  return row.id;
}

/** The queue, newest first (`pending`, `decided` or `all`), under the caller's audited transaction. */
export async function listApprovals({ tx, note }: AuditScope, status: ApprovalStatusFilter, limit: number) {
  const where = status === 'pending' ? eq(approvals.status, 'pending') : status === 'decided' ? ne(approvals.status, 'pending') : undefined;
  const list = await selectApprovals(tx, where).orderBy(desc(approvals.requestedAt), desc(approvals.id)).limit(limit);
  note({ basis: [{ rule: 'audit' }], detail: { status, returned: list.length } });
  return list.map(present);
}

/** The decider's own account: what the decision point needs to judge its independence. */
async function deciderFacts(tx: Executor, userId: string) {
  const basisApproval = aliasedTable(approvals, 'basis_approval');
  const [row] = await tx
    .select({
      kind: users.kind,
      disabled: sql<boolean>`${users.disabledAt} is not null`,
      approverBasis: users.approverBasis,
      basisDecidedBy: basisApproval.decidedBy,
      basisStatus: basisApproval.status,
    })
    .from(users)
    .leftJoin(basisApproval, eq(basisApproval.id, users.approverApprovalId))
    .where(eq(users.id, userId));
  return row;
}

/**
 * One decision, final, under the caller's audited transaction: the decision point judges the
 * decider's independence, the change takes effect (or is undone) in the same transaction, and
 * an approval that hands something over returns it once. The API route and the console both
 * decide through here.
 */
export async function decideApproval(
  { tx, note }: AuditScope,
  pdp: DecisionPoint,
  principal: Principal,
  id: string,
  decision: ApprovalDecision,
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
  pdp.assertMayDecide(principal, await deciderFacts(tx, principal.userId), {
    requestedBy: row!.requestedBy,
    targetUserIds: [row!.userId, row!.clientServiceUserId].filter((u): u is string => u !== null),
  });
  if (row!.status !== 'pending') throw new Conflict('The request has been decided already.');
  const rule = APPROVAL_RULES[row!.kind as ApprovalKind];
  const request = { ...row!, kind: row!.kind as ApprovalKind, change: row!.change as Record<string, unknown> };
  const ctx = { tx, policy: pdp.policy };
  // A review decides nothing about the change, which already happened; it records agreement or not.
  const handover = row!.effect !== 'on-approval' ? {} : decision === 'approve' ? await rule.apply(ctx, request) : (await rule.reject(ctx, request), {});
  // The note is the approver's free text: it stays in the approval, not in the log.
  await tx
    .update(approvals)
    .set({ status: decision === 'approve' ? 'approved' : 'rejected', decidedBy: principal.userId, decidedAt: new Date(), note: text ?? null })
    .where(eq(approvals.id, id));
  const [decided] = await selectApprovals(tx, eq(approvals.id, id));
  return { ...present(decided!), ...handover };
}
