import { and, asc, eq, inArray, or } from 'drizzle-orm';
import type { JWK } from 'jose';
import { registerClient } from '../../auth/clients.js';
import type { AuditScope } from '../../audit/audited.js';
import type { Policy } from '../../authz/policy.js';
import type { AgencyKind } from '../../authz/vocabulary.js';
import type { Executor } from '../../db/client.js';
import { agencies, clients, users } from '../../db/schema/index.js';
import { BadRequest, Conflict, NotFound } from '../../errors/problems.js';
import { isUuid } from '../../http/ids.js';
import { needOf, requestApproval } from '../approvals/service.js';
import { assertRole, enabledAgency, isAdminRole, review, selectUsers, type Operator } from './lookups.js';
import type { RegisterClientBody } from './schemas.js';

// A client's row as an admin sees it; `jwks` leaves only as kids and algorithms (clientView).
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

/** A client's keys by kid and algorithm only. */
function clientView<R extends { jwks: unknown }>(row: R): Omit<R, 'jwks'> & { keys: { kid?: string; kty?: string; alg?: string }[] } {
  const { jwks, ...rest } = row;
  const keys = ((jwks as { keys?: JWK[] } | null)?.keys ?? []).map((k) => ({ kid: k.kid, kty: k.kty, alg: k.alg }));
  return { ...rest, keys };
}

/** Machine clients (RFC 7523): register, say whom they may act for, list, disable. */
export class ClientAdmin {
  constructor(private readonly policy: Policy) {}

  /**
   * Registers a client (RFC 7523 private_key_jwt) with its public keys and its service user. A
   * partner's client is `pending` (no token) until a compliance officer approves it.
   */
  async register({ tx, note }: AuditScope, input: RegisterClientBody, operator: Operator) {
    const agency = await enabledAgency(tx, input.agency, 'agency');
    assertRole(this.policy, agency.kind, input.role, 'role');
    if (isAdminRole(this.policy, agency.kind, input.role)) {
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
    return { ...(await clientRow(tx, registered.clientId)), ...(approvalId ? { approvalId } : {}) };
  }

  /**
   * Asks to set the person users a client may act for (`on_behalf_of`): enabled, approved people
   * of the client's own agency. Takes effect when a compliance officer approves it; until then
   * the current list stands. An empty list asks to stop the client acting for anyone.
   */
  async setUsers({ tx, note }: AuditScope, clientId: string, refs: string[], operator: Operator) {
    const client = await clientRow(tx, clientId);
    note({ detail: { clientId } });
    const uuidRefs = refs.filter(isUuid);
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

  async list({ tx, note }: AuditScope) {
    const rows = await tx
      .select(clientColumns)
      .from(clients)
      .innerJoin(agencies, eq(agencies.id, clients.agencyId))
      .innerJoin(users, eq(users.id, clients.serviceUserId))
      .orderBy(asc(clients.clientId));
    note({ detail: { count: rows.length } });
    return { clients: rows.map(clientView) };
  }

  async disable({ tx, note }: AuditScope, clientId: string, operator: Operator) {
    const client = await clientRow(tx, clientId);
    note({ detail: { clientId, serviceUserId: client.serviceUserId } });
    if (client.disabledAt) return client;
    await tx.update(clients).set({ disabledAt: new Date() }).where(eq(clients.clientId, clientId));
    const [agency] = await tx.select({ kind: agencies.kind }).from(agencies).where(eq(agencies.id, client.agencyId));
    const approvalId = await review(
      this.policy,
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
    return { ...(await clientRow(tx, clientId)), ...(approvalId ? { approvalId } : {}) };
  }
}

/** One client as an admin sees it; 404 when there is none. */
async function clientRow(tx: Executor, clientId: string) {
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
