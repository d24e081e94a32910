import { eq, type SQL } from 'drizzle-orm';
import { roleRule, type Policy } from '../../authz/policy.js';
import type { AgencyKind } from '../../authz/vocabulary.js';
import type { Executor } from '../../db/client.js';
import { agencies, users } from '../../db/schema/index.js';
import { BadRequest, Conflict, NotFound } from '../../errors/problems.js';
import { needOf, requestApproval, type Operator as Requester } from '../approvals/service.js';

// What the admin services share: the rows an admin may see of agencies and users, the lookups by
// slug, the policy's role checks, and the review queue for changes that take effect at once.

/** A user named by id (HTTP) or by username (the CLI). */
export type UserRef = { id: string } | { username: string };

/** Who is acting: the admin's principal over HTTP, the operator named at the CLI (or nobody there). */
export type Operator = Requester | undefined;

// Columns an admin may see. Password hashes, TOTP secrets, enrolment-code hashes, private keys
// and the JWK sets' key material are never selected.
export const agencyColumns = {
  id: agencies.id,
  slug: agencies.slug,
  name: agencies.name,
  part2Program: agencies.part2Program,
  kind: agencies.kind,
  disabledAt: agencies.disabledAt,
  createdAt: agencies.createdAt,
};

const userColumns = {
  id: users.id,
  agencyId: users.agencyId,
  username: users.username,
  agency: agencies.slug,
  agencyKind: agencies.kind,
  role: users.role,
  kind: users.kind,
  approval: users.approval,
  mfaEnrolledAt: users.totpEnrolledAt,
  enrolmentExpiresAt: users.enrolmentExpiresAt,
  disabledAt: users.disabledAt,
  createdAt: users.createdAt,
};

export const selectUsers = (tx: Executor, where: SQL | undefined) =>
  tx.select(userColumns).from(users).innerJoin(agencies, eq(agencies.id, users.agencyId)).where(where);
export type UserRow = Awaited<ReturnType<typeof selectUsers>>[number];

/** What a user looks like to an admin: state, not secrets. */
export function userView(row: UserRow) {
  const { mfaEnrolledAt, enrolmentExpiresAt, agencyKind: _kind, agencyId: _agency, ...rest } = row;
  return { ...rest, mfaEnrolled: mfaEnrolledAt !== null, enrolmentPending: enrolmentExpiresAt !== null && enrolmentExpiresAt > new Date() };
}

/** An agency named in the path; 404 when there is none. */
export async function agencyBySlug(tx: Executor, slug: string) {
  const [row] = await tx.select(agencyColumns).from(agencies).where(eq(agencies.slug, slug)).limit(1);
  if (!row) throw new NotFound('agency');
  return row;
}

/** An agency named in a request body: unknown is bad input (400), disabled a conflict. */
export async function enabledAgency(tx: Executor, slug: string, path: string) {
  const [row] = await tx.select(agencyColumns).from(agencies).where(eq(agencies.slug, slug)).limit(1);
  if (!row) throw new BadRequest('No such agency.', [{ path, message: 'unknown agency' }]);
  if (row.disabledAt) throw new Conflict('The agency is disabled.');
  return { ...row, kind: row.kind as AgencyKind };
}

/** The role must exist for the agency's kind in the policy: an unknown role would get nothing. */
export function assertRole(policy: Policy, kind: AgencyKind, role: string, path: string): void {
  if (!roleRule(policy, kind, role)) {
    const known = Object.keys(policy.roles[kind] ?? {});
    throw new BadRequest(`The policy defines no role ${role} for ${kind} agencies; known roles: ${known.join(', ') || 'none'}.`, [
      { path, message: 'unknown role for the agency kind' },
    ]);
  }
}

export function isAdminRole(policy: Policy, kind: AgencyKind, role: string): boolean {
  return roleRule(policy, kind, role)?.permissions.includes('admin') ?? false;
}

/** Queues a change that already took effect for review, when the rule says it is reviewed. */
export async function review(
  policy: Policy,
  tx: Executor,
  operator: Operator,
  kind: 'user.disable' | 'user.mfa-reset' | 'client.disable' | 'agency.disable',
  facts: { agencyKind: AgencyKind; role: string },
  request: { agencyId: string; userId?: string; clientId?: string; change: Record<string, unknown> },
): Promise<string | undefined> {
  if (needOf(policy, kind, facts) !== 'review') return undefined;
  return requestApproval(tx, operator, { kind, need: 'review', ...request });
}
