import { and, eq, gt } from 'drizzle-orm';
import type { Executor } from '../db/client.js';
import { agencies, clients, revokedTokens, users } from '../db/schema/index.js';
import type { AgencyKind } from '../authz/vocabulary.js';
import type { Principal } from './principal.js';
import type { AccessTokenClaims } from './tokens.js';
import { TokenRejected } from './tokens.js';

/**
 * Turns verified claims into a Principal from the current rows, so a disabled user or agency,
 * a changed role or a revoked token stops working on the very next request.
 */
export async function resolvePrincipal(db: Executor, claims: AccessTokenClaims): Promise<Principal> {
  const [row] = await db
    .select({ user: users, agency: agencies })
    .from(users)
    .innerJoin(agencies, eq(users.agencyId, agencies.id))
    .where(eq(users.id, claims.sub))
    .limit(1);
  if (!row) throw new TokenRejected('user_unknown');
  if (row.user.disabledAt) throw new TokenRejected('user_disabled');
  if (row.agency.disabledAt) throw new TokenRejected('agency_disabled');
  if (row.user.approval !== 'approved') throw new TokenRejected('user_not_approved');
  if (row.user.role !== claims.role || row.agency.slug !== claims.agency) throw new TokenRejected('claims_stale');
  const [revoked] = await db
    .select({ jti: revokedTokens.jti })
    .from(revokedTokens)
    .where(and(eq(revokedTokens.jti, claims.jti), gt(revokedTokens.expiresAt, new Date())))
    .limit(1);
  if (revoked) throw new TokenRejected('token_revoked');
  let clientRole: string | undefined;
  if (claims.client_id !== undefined) {
    const [client] = await db
      .select({
        agencyId: clients.agencyId,
        disabledAt: clients.disabledAt,
        approval: clients.approval,
        serviceUserId: clients.serviceUserId,
        allowedUserIds: clients.allowedUserIds,
        role: users.role,
      })
      .from(clients)
      .innerJoin(users, eq(users.id, clients.serviceUserId))
      .where(eq(clients.clientId, claims.client_id))
      .limit(1);
    if (!client || client.disabledAt || client.agencyId !== row.agency.id) throw new TokenRejected('client_disabled');
    if (client.approval !== 'approved') throw new TokenRejected('client_not_approved');
    if (client.serviceUserId !== row.user.id) {
      // Acting for a user: only one still on the client's list, and never above the client's own
      // role (SPEC principle 10). The role is the client's current one, whatever the token says.
      if (!client.allowedUserIds.includes(row.user.id)) throw new TokenRejected('client_user_not_allowed');
      if (claims.client_role !== undefined && claims.client_role !== client.role) throw new TokenRejected('claims_stale');
      clientRole = client.role;
    }
  }
  return {
    userId: row.user.id,
    username: row.user.username,
    agencyId: row.agency.id,
    agency: row.agency.slug,
    agencyKind: row.agency.kind as AgencyKind,
    role: row.user.role,
    jti: claims.jti,
    ...(claims.client_id !== undefined ? { clientId: claims.client_id } : {}),
    ...(clientRole !== undefined ? { clientRole } : {}),
  };
}
