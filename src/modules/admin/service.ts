import { and, asc, eq, inArray, or, type SQL } from 'drizzle-orm';
import type { JWK } from 'jose';
import { registerClient } from '../../auth/clients.js';
import { issueEnrolmentCode } from '../../auth/enrolment.js';
import { DEFAULT_PUBLISH_DELAY_SECONDS, rotateSigningKey } from '../../auth/keys.js';
import { endUserSessions } from '../../auth/user-sessions.js';
import type { AuditScope } from '../../audit/audited.js';
import { roleRule, type Policy } from '../../authz/policy.js';
import type { AgencyKind } from '../../authz/vocabulary.js';
import type { Executor } from '../../db/client.js';
import { agencies, clients, signingKeys, users } from '../../db/schema/index.js';
import { BadRequest, Conflict, NotFound } from '../../errors/problems.js';
import { audits, ENROLMENT_CODE_HOURS, resetSecondFactor } from '../approvals/kinds.js';
import { claimBootstrapAuditor, needOf, requestApproval, type Operator as Requester } from '../approvals/service.js';
import type { CreateAgencyInput, InviteUserInput, RegisterClientBody } from './schemas.js';
/**
 * An invited user's password hash until enrolment sets one: not a valid hash, so no password
 * ever matches it (verifyPassword treats it as a failed check).
 */
const UNUSABLE_PASSWORD_HASH = '!';

/** A user named by id (HTTP) or by username (the CLI). */
export type UserRef = { id: string } | { username: string };

/** Who is acting: the admin's principal over HTTP, the operator named at the CLI (or nobody there). */
export type Operator = Requester | undefined;

export interface AdminSettings {
  /** Encrypts new signing keys at rest. */
  keyEncryptionKey: Buffer;
  /** Longest access-token lifetime, so a replaced key verifies until its last token expires. */
  tokenTtlSeconds: number;
}

// Columns an admin may see. Password hashes, TOTP secrets, enrolment-code hashes, private keys
// and the JWK sets' key material are never selected.
const agencyColumns = {
  id: agencies.id,
  slug: agencies.slug,
  name: agencies.name,
  part2Program: agencies.part2Program,
  kind: agencies.kind,
  disabledAt: agencies.disabledAt,
  createdAt: agencies.createdAt,
};
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

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
const clientColumns = {
  id: clients.id,
  clientId: clients.clientId,
  agencyId: clients.agencyId,
  agency: agencies.slug,
  role: users.role,
  serviceUserId: clients.serviceUserId,
  approval: clients.approval,
  allowedUserIds: clients.allowedUserIds,
  jwks: clients.jwks,
  disabledAt: clients.disabledAt,
  createdAt: clients.createdAt,
};
const keyColumns = {
  kid: signingKeys.kid,
  alg: signingKeys.alg,
  status: signingKeys.status,
  createdAt: signingKeys.createdAt,
  activatesAt: signingKeys.activatesAt,
  retireAfter: signingKeys.retireAfter,
};

const selectUsers = (tx: Executor, where: SQL | undefined) =>
  tx.select(userColumns).from(users).innerJoin(agencies, eq(agencies.id, users.agencyId)).where(where);
type UserRow = Awaited<ReturnType<typeof selectUsers>>[number];

/** What a user looks like to an admin: state, not secrets. */
function userView(row: UserRow) {
  const { mfaEnrolledAt, enrolmentExpiresAt, agencyKind: _kind, agencyId: _agency, ...rest } = row;
  return { ...rest, mfaEnrolled: mfaEnrolledAt !== null, enrolmentPending: enrolmentExpiresAt !== null && enrolmentExpiresAt > new Date() };
}

/** A client's keys by kid and algorithm only. */
function clientView<R extends { jwks: unknown }>(row: R): Omit<R, 'jwks'> & { keys: { kid?: string; kty?: string; alg?: string }[] } {
  const { jwks, ...rest } = row;
  const keys = ((jwks as { keys?: JWK[] } | null)?.keys ?? []).map((k) => ({ kid: k.kid, kty: k.kty, alg: k.alg }));
  return { ...rest, keys };
}

/**
 * Onboarding: agencies, users, machine clients and signing keys. Every method runs inside the
 * caller's audited transaction (`runner.run` for HTTP, the CLI's own for an operator) and says
 * what it changed through `note`, ids only, for the access log. Refusals are HttpProblems, so
 * the HTTP routes and the CLI report them alike and the transaction rolls back.
 */
export class AdminService {
  constructor(
    private readonly policy: Policy,
    private readonly settings: AdminSettings,
  ) {}

  // ---- agencies ----------------------------------------------------------------------------

  async createAgency({ tx, note }: AuditScope, input: CreateAgencyInput) {
    const [row] = await tx.insert(agencies).values(input).onConflictDoNothing({ target: agencies.slug }).returning(agencyColumns);
    if (!row) throw new Conflict('An agency with this slug already exists.');
    note({ detail: { agencyId: row.id, kind: row.kind } });
    return row;
  }

  async listAgencies({ tx, note }: AuditScope) {
    const rows = await tx.select(agencyColumns).from(agencies).orderBy(asc(agencies.slug));
    note({ detail: { count: rows.length } });
    return { agencies: rows };
  }

  async disableAgency({ tx, note }: AuditScope, slug: string, operator: Operator) {
    const agency = await this.agency(tx, slug);
    note({ detail: { agencyId: agency.id } });
    if (operator && operator.agencyId === agency.id) throw new Conflict('An admin cannot disable their own agency.');
    if (agency.disabledAt) return agency;
    const [row] = await tx.update(agencies).set({ disabledAt: new Date() }).where(eq(agencies.id, agency.id)).returning(agencyColumns);
    const approvalId = await this.review(
      tx,
      operator,
      'agency.disable',
      { agencyKind: agency.kind as AgencyKind, role: '' },
      { agencyId: agency.id, change: {} },
    );
    if (approvalId) note({ detail: { agencyId: agency.id, approvalId } });
    return { ...row!, ...(approvalId ? { approvalId } : {}) };
  }

  // ---- users -------------------------------------------------------------------------------

  /**
   * Creates a person who cannot log in until they enrol with the returned one-time code. Into a
   * partner agency the account is `pending` until a compliance officer approves it, and the
   * approval hands out the second half of the enrolment (so the operator, holding only this
   * code, can never enrol as the user and choose their password).
   */
  async inviteUser({ tx, note }: AuditScope, input: InviteUserInput, operator: Operator) {
    const agency = await this.enabledAgency(tx, input.agency, 'agency');
    this.assertRole(agency.kind, input.role, 'role');
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
    return { ...(await this.withEnrolmentCode(tx, created.id, enrolmentCode)), ...(approvalId ? { approvalId } : {}) };
  }

  async listUsers({ tx, note }: AuditScope, filter: { agency?: string } = {}) {
    if (filter.agency) await this.agency(tx, filter.agency);
    const rows = await selectUsers(tx, filter.agency ? eq(agencies.slug, filter.agency) : undefined).orderBy(asc(users.username));
    note({ detail: { count: rows.length } });
    return { users: rows.map(userView) };
  }

  async setUserRole({ tx, note }: AuditScope, ref: UserRef, role: string, operator: Operator) {
    const user = await this.userRow(tx, ref, true);
    note({ detail: { userId: user.id, role } });
    if (operator?.userId === user.id) throw new Conflict('An admin cannot change their own role.');
    this.assertRole(user.agencyKind as AgencyKind, role, 'role');
    if (user.kind === 'service' && this.isAdminRole(user.agencyKind as AgencyKind, role)) {
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
    return userView(await this.userRow(tx, { id: user.id }));
  }

  async disableUser({ tx, note }: AuditScope, ref: UserRef, operator: Operator) {
    const user = await this.userRow(tx, ref, true);
    note({ detail: { userId: user.id } });
    if (operator?.userId === user.id) throw new Conflict('An admin cannot disable their own account.');
    if (user.disabledAt) return userView(user);
    await tx.update(users).set({ disabledAt: new Date() }).where(eq(users.id, user.id));
    await endUserSessions(tx, user.id);
    // It only takes rights away, so at once; a partner's or an approver's is reviewed.
    const approvalId = await this.review(
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
    return { ...userView(await this.userRow(tx, { id: user.id })), ...(approvalId ? { approvalId } : {}) };
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
    const user = await this.userRow(tx, ref, true);
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
    const approvalId = await this.review(tx, operator, 'user.mfa-reset', facts, request);
    if (approvalId) note({ detail: { userId: user.id, approvalId } });
    return { ...(await this.withEnrolmentCode(tx, user.id, enrolmentCode)), ...(approvalId ? { approvalId } : {}) };
  }

  /** The user as an admin sees them, plus the one-time code (shown once, stored only hashed) and its expiry. */
  private async withEnrolmentCode(tx: Executor, userId: string, enrolmentCode: string) {
    const row = await this.userRow(tx, { id: userId });
    return { ...userView(row), enrolmentCode, enrolmentExpiresAt: row.enrolmentExpiresAt };
  }

  // ---- machine clients ---------------------------------------------------------------------

  /**
   * Registers a client (RFC 7523 private_key_jwt) with its public keys and its service user. A
   * partner's client is `pending` (no token) until a compliance officer approves it.
   */
  async registerClient({ tx, note }: AuditScope, input: RegisterClientBody, operator: Operator) {
    const agency = await this.enabledAgency(tx, input.agency, 'agency');
    this.assertRole(agency.kind, input.role, 'role');
    if (this.isAdminRole(agency.kind, input.role)) {
      throw new BadRequest('A machine client cannot hold an admin role.', [{ path: 'role', message: 'not allowed for a client' }]);
    }
    const pending = needOf(this.policy, 'client.register', { agencyKind: agency.kind, role: input.role }) === 'approval';
    // Its service user is `client:<clientId>`; a person's username has no ':' so they never collide.
    const registered = await registerClient(tx, {
      clientId: input.clientId,
      agencyId: agency.id,
      role: input.role,
      jwks: input.jwks,
      approval: pending ? 'pending' : 'approved',
    });
    const approvalId = pending
      ? await requestApproval(tx, operator, {
          kind: 'client.register',
          need: 'approval',
          agencyId: agency.id,
          clientId: registered.id,
          change: { role: input.role },
        })
      : undefined;
    note({
      detail: {
        clientId: registered.clientId,
        serviceUserId: registered.serviceUserId,
        agencyId: agency.id,
        role: input.role,
        ...(approvalId ? { approvalId } : {}),
      },
    });
    return { ...(await this.client(tx, registered.clientId)), ...(approvalId ? { approvalId } : {}) };
  }

  /**
   * Asks to set the person users a client may act for (`on_behalf_of`): enabled, approved people
   * of the client's own agency. Takes effect when a compliance officer approves it; until then
   * the current list stands. An empty list asks to stop the client acting for anyone.
   */
  async setClientUsers({ tx, note }: AuditScope, clientId: string, refs: string[], operator: Operator) {
    const client = await this.client(tx, clientId);
    note({ detail: { clientId } });
    const uuidRefs = refs.filter((r) => UUID.test(r));
    const rows = refs.length
      ? await selectUsers(
          tx,
          and(eq(users.agencyId, client.agencyId), or(inArray(users.username, refs), uuidRefs.length ? inArray(users.id, uuidRefs) : undefined)),
        )
      : [];
    const unknown = refs.filter((r) => !rows.some((u) => u.username === r || u.id === r.toLowerCase()));
    if (unknown.length) {
      throw new BadRequest(
        'Every user must be a person of the client’s own agency.',
        unknown.map((_, i) => ({ path: `users.${refs.indexOf(unknown[i]!)}`, message: 'unknown user of the client’s agency' })),
      );
    }
    const unusable = rows.filter((u) => u.kind !== 'person' || u.disabledAt || u.approval !== 'approved');
    if (unusable.length) throw new Conflict('A client can act only for enabled, approved people.');
    const userIds = [...new Set(rows.map((u) => u.id))].sort();
    const approvalId = await requestApproval(tx, operator, {
      kind: 'client.users',
      need: 'approval',
      agencyId: client.agencyId,
      clientId: client.id,
      change: { userIds, usernames: [...new Set(rows.map((u) => u.username))].sort() },
    });
    note({ detail: { clientId, userIds, approvalId } });
    return { ...client, pendingAllowedUserIds: userIds, approvalId };
  }

  async listClients({ tx, note }: AuditScope) {
    const rows = await tx
      .select(clientColumns)
      .from(clients)
      .innerJoin(agencies, eq(agencies.id, clients.agencyId))
      .innerJoin(users, eq(users.id, clients.serviceUserId))
      .orderBy(asc(clients.clientId));
    note({ detail: { count: rows.length } });
    return { clients: rows.map(clientView) };
  }

  async disableClient({ tx, note }: AuditScope, clientId: string, operator: Operator) {
    const client = await this.client(tx, clientId);
    note({ detail: { clientId, serviceUserId: client.serviceUserId } });
    if (client.disabledAt) return client;
    await tx.update(clients).set({ disabledAt: new Date() }).where(eq(clients.clientId, clientId));
    const [agency] = await tx.select({ kind: agencies.kind }).from(agencies).where(eq(agencies.id, client.agencyId));
    const approvalId = await this.review(
      tx,
      operator,
      'client.disable',
      { agencyKind: agency!.kind as AgencyKind, role: client.role },
      {
        agencyId: client.agencyId,
        clientId: client.id,
        change: { role: client.role },
      },
    );
    if (approvalId) note({ detail: { clientId, serviceUserId: client.serviceUserId, approvalId } });
    return { ...(await this.client(tx, clientId)), ...(approvalId ? { approvalId } : {}) };
  }

  // ---- signing keys ------------------------------------------------------------------------

  async listKeys({ tx, note }: AuditScope) {
    const rows = await tx.select(keyColumns).from(signingKeys).orderBy(asc(signingKeys.createdAt));
    note({ detail: { count: rows.length } });
    return { keys: rows };
  }

  /**
   * Rotates with overlap: the new key is published at once and signs after the publish delay
   * (every verifier has fetched it by then); the keys it replaces verify until their last token
   * expires. With no active key to overlap with, the new key signs at once. Callers reload their
   * KeyStore after the transaction commits.
   */
  async rotateKeys({ tx, note }: AuditScope) {
    const [active] = await tx.select({ kid: signingKeys.kid }).from(signingKeys).where(eq(signingKeys.status, 'active')).limit(1);
    const delay = active ? DEFAULT_PUBLISH_DELAY_SECONDS : 0;
    const kid = await rotateSigningKey(tx, this.settings.keyEncryptionKey, this.settings.tokenTtlSeconds, delay);
    const keys = await tx
      .select(keyColumns)
      .from(signingKeys)
      .where(inArray(signingKeys.status, ['active', 'retiring']))
      .orderBy(asc(signingKeys.createdAt));
    const key = keys.find((k) => k.kid === kid)!;
    note({
      detail: { kid, activatesAt: key.activatesAt.toISOString(), replaced: keys.filter((k) => k.kid !== kid && k.status === 'retiring').map((k) => k.kid) },
    });
    return { ...key, publishDelaySeconds: delay, keys };
  }

  // ---- approvals ---------------------------------------------------------------------------

  /** Queues a change that already took effect for review, when the rule says it is reviewed. */
  private async review(
    tx: Executor,
    operator: Operator,
    kind: 'user.disable' | 'user.mfa-reset' | 'client.disable' | 'agency.disable',
    facts: { agencyKind: AgencyKind; role: string },
    request: { agencyId: string; userId?: string; clientId?: string; change: Record<string, unknown> },
  ): Promise<string | undefined> {
    if (needOf(this.policy, kind, facts) !== 'review') return undefined;
    return requestApproval(tx, operator, { kind, need: 'review', ...request });
  }

  /**
   * The operator named at the command line: an enabled, approved person whose role administers
   * and does not audit, so that what it asks is attributed to someone a decider can differ from.
   */
  async cliOperator(tx: Executor, username: string): Promise<Requester> {
    const [row] = await selectUsers(tx, eq(users.username, username)).limit(1);
    const administers = row && (roleRule(this.policy, row.agencyKind as AgencyKind, row.role)?.permissions.includes('admin') ?? false);
    if (!row || !administers || audits(this.policy, row.agencyKind, row.role) || row.kind !== 'person' || row.disabledAt || row.approval !== 'approved') {
      throw new BadRequest('The operator must be an enabled operator account (a role that administers).', [{ path: 'operator', message: 'not an operator' }]);
    }
    return { userId: row.id, username: row.username, agencyId: row.agencyId };
  }

  // ---- lookups -----------------------------------------------------------------------------

  private async agency(tx: Executor, slug: string) {
    const [row] = await tx.select(agencyColumns).from(agencies).where(eq(agencies.slug, slug)).limit(1);
    if (!row) throw new NotFound('agency');
    return row;
  }

  /** An agency named in a request body: unknown is bad input (400), disabled a conflict. */
  private async enabledAgency(tx: Executor, slug: string, path: string) {
    const [row] = await tx.select(agencyColumns).from(agencies).where(eq(agencies.slug, slug)).limit(1);
    if (!row) throw new BadRequest('No such agency.', [{ path, message: 'unknown agency' }]);
    if (row.disabledAt) throw new Conflict('The agency is disabled.');
    return { ...row, kind: row.kind as AgencyKind };
  }

  /** One user, locked for update when `forUpdate`; 404 when there is none. */
  private async userRow(tx: Executor, ref: UserRef, forUpdate = false): Promise<UserRow> {
    const query = selectUsers(tx, 'id' in ref ? eq(users.id, ref.id) : eq(users.username, ref.username)).limit(1);
    const [row] = forUpdate ? await query.for('update', { of: users }) : await query;
    if (!row) throw new NotFound('user');
    return row;
  }

  private async client(tx: Executor, clientId: string) {
    const [row] = await tx
      .select(clientColumns)
      .from(clients)
      .innerJoin(agencies, eq(agencies.id, clients.agencyId))
      .innerJoin(users, eq(users.id, clients.serviceUserId))
      .where(eq(clients.clientId, clientId))
      .limit(1);
    if (!row) throw new NotFound('client');
    return clientView(row);
  }

  /** The role must exist for the agency's kind in the policy: an unknown role would get nothing. */
  private assertRole(kind: AgencyKind, role: string, path: string): void {
    if (!roleRule(this.policy, kind, role)) {
      const known = Object.keys(this.policy.roles[kind] ?? {});
      throw new BadRequest(`The policy defines no role ${role} for ${kind} agencies; known roles: ${known.join(', ') || 'none'}.`, [
        { path, message: 'unknown role for the agency kind' },
      ]);
    }
  }

  private isAdminRole(kind: AgencyKind, role: string): boolean {
    return roleRule(this.policy, kind, role)?.permissions.includes('admin') ?? false;
  }
}
