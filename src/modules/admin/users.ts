import { asc, eq } from 'drizzle-orm';
import { issueEnrolmentCode } from '../../auth/enrolment.js';
import { endUserSessions } from '../../auth/user-sessions.js';
import type { AuditScope } from '../../audit/audited.js';
import type { Policy } from '../../authz/policy.js';
import type { AgencyKind } from '../../authz/vocabulary.js';
import type { Executor } from '../../db/client.js';
import { agencies, users } from '../../db/schema/index.js';
import { BadRequest, Conflict, NotFound } from '../../errors/problems.js';
import { audits, ENROLMENT_CODE_HOURS, resetSecondFactor } from '../approvals/kinds.js';
import { claimBootstrapAuditor, needOf, requestApproval, type Operator as Requester } from '../approvals/service.js';
import { agencyBySlug, assertRole, enabledAgency, isAdminRole, review, selectUsers, userView, type Operator, type UserRef, type UserRow } from './lookups.js';
import type { InviteUserInput } from './schemas.js';

/**
 * An invited user's password hash until enrolment sets one: not a valid hash, so no password
 * ever matches it (verifyPassword treats it as a failed check).
 */
const UNUSABLE_PASSWORD_HASH = '!';

/** People's accounts: invite, list, change role, disable, reset the second factor; and the CLI's operator. */
export class UserAdmin {
  constructor(private readonly policy: Policy) {}

  /**
   * Creates a person who cannot log in until they enrol with the returned one-time code. Into a
   * partner agency the account is `pending` until a compliance officer approves it, and the
   * approval hands out the second half of the enrolment (so the operator, holding only this
   * code, can never enrol as the user and choose their password).
   */
  async invite({ tx, note }: AuditScope, input: InviteUserInput, operator: Operator) {
    const agency = await enabledAgency(tx, input.agency, 'agency');
    assertRole(this.policy, agency.kind, input.role, 'role');
    const waits = needOf(this.policy, 'user.invite', { agencyKind: agency.kind, role: input.role }) === 'approval';
    const [created] = await tx
      .insert(users)
      .values({
        username: input.username,
        agencyId: agency.id,
        role: input.role,
        kind: 'person',
        passwordHash: UNUSABLE_PASSWORD_HASH,
        approval: waits ? 'pending' : 'approved',
      })
      .onConflictDoNothing({ target: users.username })
      .returning({ id: users.id });
    if (!created) throw new Conflict('A user with this username already exists.');
    const enrolmentCode = await issueEnrolmentCode(tx, created.id, ENROLMENT_CODE_HOURS);
    // The gateway's first auditor ever takes effect at once (nobody could approve it), once per deployment.
    const bootstrap =
      waits &&
      agency.kind === 'gateway' &&
      audits(this.policy, agency.kind, input.role) &&
      (await claimBootstrapAuditor(tx, this.policy, agency.kind, created.id));
    if (bootstrap) await tx.update(users).set({ approval: 'approved' }).where(eq(users.id, created.id));
    const approvalId =
      waits && !bootstrap
        ? await requestApproval(tx, operator, { kind: 'user.invite', need: 'approval', agencyId: agency.id, userId: created.id, change: { role: input.role } })
        : undefined;
    note({
      detail: {
        userId: created.id,
        agencyId: agency.id,
        role: input.role,
        ...(approvalId ? { approvalId } : {}),
        ...(bootstrap ? { bootstrapAuditor: true } : {}),
      },
    });
    return { ...(await withEnrolmentCode(tx, created.id, enrolmentCode)), ...(approvalId ? { approvalId } : {}) };
  }

  async list({ tx, note }: AuditScope, filter: { agency?: string } = {}) {
    if (filter.agency) await agencyBySlug(tx, filter.agency);
    const rows = await selectUsers(tx, filter.agency ? eq(agencies.slug, filter.agency) : undefined).orderBy(asc(users.username));
    note({ detail: { count: rows.length } });
    return { users: rows.map(userView) };
  }

  async setRole({ tx, note }: AuditScope, ref: UserRef, role: string, operator: Operator) {
    const user = await userRow(tx, ref, true);
    note({ detail: { userId: user.id, role } });
    if (operator?.userId === user.id) throw new Conflict('An admin cannot change their own role.');
    assertRole(this.policy, user.agencyKind as AgencyKind, role, 'role');
    if (user.kind === 'service' && isAdminRole(this.policy, user.agencyKind as AgencyKind, role)) {
      throw new BadRequest('A machine client cannot hold an admin role.', [{ path: 'role', message: 'not allowed for a client' }]);
    }
    note({ detail: { userId: user.id, role, previousRole: user.role } });
    if (user.approval !== 'approved') throw new Conflict('The account is not approved; its invitation decides its role.');
    if (role === user.role) return userView(user);
    if (needOf(this.policy, 'user.role', { agencyKind: user.agencyKind as AgencyKind, role: user.role, newRole: role }) === 'approval') {
      // A partner's or an approver's role changes only when a compliance officer approves: until then the old role stands.
      const approvalId = await requestApproval(tx, operator, {
        kind: 'user.role',
        need: 'approval',
        agencyId: user.agencyId,
        userId: user.id,
        change: { role, previousRole: user.role },
      });
      note({ detail: { userId: user.id, role, previousRole: user.role, approvalId } });
      return { ...userView(user), pendingRole: role, approvalId };
    }
    await tx.update(users).set({ role }).where(eq(users.id, user.id));
    await endUserSessions(tx, user.id);
    return userView(await userRow(tx, { id: user.id }));
  }

  async disable({ tx, note }: AuditScope, ref: UserRef, operator: Operator) {
    const user = await userRow(tx, ref, true);
    note({ detail: { userId: user.id } });
    if (operator?.userId === user.id) throw new Conflict('An admin cannot disable their own account.');
    if (user.disabledAt) return userView(user);
    await tx.update(users).set({ disabledAt: new Date() }).where(eq(users.id, user.id));
    await endUserSessions(tx, user.id);
    // It only takes rights away, so at once; a partner's or an approver's is reviewed.
    const approvalId = await review(
      this.policy,
      tx,
      operator,
      'user.disable',
      { agencyKind: user.agencyKind as AgencyKind, role: user.role },
      {
        agencyId: user.agencyId,
        userId: user.id,
        change: { role: user.role },
      },
    );
    if (approvalId) note({ detail: { userId: user.id, approvalId } });
    return { ...userView(await userRow(tx, { id: user.id })), ...(approvalId ? { approvalId } : {}) };
  }

  /**
   * A lost or compromised second factor: the TOTP secret and unused recovery codes are voided
   * and a new one-time enrolment code is returned. The code never sets a password: re-enrolment
   * proves the user's current password (POST /oauth/enrol), so the operator who holds the code
   * cannot enrol as the user. A user who never enrolled keeps needing the approver's half too.
   * An approver's reset waits for another compliance officer, who then hands the code over; a
   * partner's happens at once and is reviewed.
   */
  async resetMfa({ tx, note }: AuditScope, ref: UserRef, operator: Operator) {
    const user = await userRow(tx, ref, true);
    note({ detail: { userId: user.id } });
    if (user.kind !== 'person') throw new Conflict('A service user has no second factor.');
    if (user.disabledAt) throw new Conflict('The user is disabled.');
    if (user.approval !== 'approved') throw new Conflict('The account is not approved.');
    if (operator?.userId === user.id) throw new Conflict('An admin cannot reset their own second factor.');
    const facts = { agencyKind: user.agencyKind as AgencyKind, role: user.role };
    const request = { agencyId: user.agencyId, userId: user.id, change: { role: user.role } };
    if (needOf(this.policy, 'user.mfa-reset', facts) === 'approval') {
      const approvalId = await requestApproval(tx, operator, { kind: 'user.mfa-reset', need: 'approval', ...request });
      note({ detail: { userId: user.id, approvalId } });
      return { ...userView(user), approvalId };
    }
    const enrolmentCode = await resetSecondFactor(tx, user.id);
    const approvalId = await review(this.policy, tx, operator, 'user.mfa-reset', facts, request);
    if (approvalId) note({ detail: { userId: user.id, approvalId } });
    return { ...(await withEnrolmentCode(tx, user.id, enrolmentCode)), ...(approvalId ? { approvalId } : {}) };
  }

  /**
   * The operator named at the command line: an enabled, approved person whose role administers
   * and does not audit, so that what it asks is attributed to someone a decider can differ from.
   */
  async cliOperator(tx: Executor, username: string): Promise<Requester> {
    const [row] = await selectUsers(tx, eq(users.username, username)).limit(1);
    const administers = row && isAdminRole(this.policy, row.agencyKind as AgencyKind, row.role);
    if (!row || !administers || audits(this.policy, row.agencyKind, row.role) || row.kind !== 'person' || row.disabledAt || row.approval !== 'approved') {
      throw new BadRequest('The operator must be an enabled operator account (a role that administers).', [{ path: 'operator', message: 'not an operator' }]);
    }
    return { userId: row.id, username: row.username, agencyId: row.agencyId };
  }
}

/** One user, locked for update when `forUpdate`; 404 when there is none. */
async function userRow(tx: Executor, ref: UserRef, forUpdate = false): Promise<UserRow> {
  const query = selectUsers(tx, 'id' in ref ? eq(users.id, ref.id) : eq(users.username, ref.username)).limit(1);
  const [row] = forUpdate ? await query.for('update', { of: users }) : await query;
  if (!row) throw new NotFound('user');
  return row;
}

/** The user as an admin sees them, plus the one-time code (shown once, stored only hashed) and its expiry. */
async function withEnrolmentCode(tx: Executor, userId: string, enrolmentCode: string) {
  const row = await userRow(tx, { id: userId });
  return { ...userView(row), enrolmentCode, enrolmentExpiresAt: row.enrolmentExpiresAt };
}
