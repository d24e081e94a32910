import { runStatement, type Executor, type Statement } from '../db/client.js';
import type { AgencyKind } from '../authz/vocabulary.js';
import type { Principal } from './principal.js';
import type { AccessTokenClaims } from './tokens.js';
import { TokenRejected } from './tokens.js';

/** The principal's statement's row: the columns `PRINCIPAL_SELECT` names. */
export interface PrincipalRow {
  userId: string;
  username: string;
  role: string;
  userDisabled: boolean;
  userApproval: string;
  tokensValidAfterMs: number | null;
  agencyId: string;
  agencySlug: string;
  agencyKind: string;
  agencyDisabled: boolean;
  revoked: boolean;
  clientFound: boolean;
  clientAgencyId: string | null;
  clientDisabled: boolean;
  clientApproval: string | null;
  clientServiceUserId: string | null;
  clientAllowedUserIds: string[] | null;
  clientRole: string | null;
}

/**
 * The user, their agency, the token's revocation and its client: one row (`PrincipalRow`), none
 * for an unknown user, over parameters $1 user, $2 jti, $3 client id (`principalParams`). A route
 * that reads more with its principal embeds this whole, by its output columns (see
 * modules/subjects/record-context.ts), so nothing outside this file names its aliases.
 */
export const PRINCIPAL_SELECT = `SELECT u.id AS "userId", u.username, u.role, u.disabled_at IS NOT NULL AS "userDisabled", u.approval AS "userApproval",
                (extract(epoch FROM u.tokens_valid_after) * 1000)::float8 AS "tokensValidAfterMs",
                a.id AS "agencyId", a.slug AS "agencySlug", a.kind AS "agencyKind", a.disabled_at IS NOT NULL AS "agencyDisabled",
                EXISTS (SELECT 1 FROM revoked_tokens r WHERE r.jti = $2::text AND r.expires_at > now()) AS revoked,
                c.client_id IS NOT NULL AS "clientFound", c.agency_id AS "clientAgencyId", c.disabled_at IS NOT NULL AS "clientDisabled",
                c.approval AS "clientApproval", c.service_user_id AS "clientServiceUserId", c.allowed_user_ids AS "clientAllowedUserIds",
                cu.role AS "clientRole"
           FROM users u
           JOIN agencies a ON a.id = u.agency_id
           LEFT JOIN clients c ON c.client_id = $3::text
           LEFT JOIN users cu ON cu.id = c.service_user_id
          WHERE u.id = $1::uuid`;

/** `PRINCIPAL_SELECT`'s parameters $1 to $3, from the token's verified claims. */
export const principalParams = (claims: AccessTokenClaims): unknown[] => [claims.sub, claims.jti, claims.client_id ?? null];

const PRINCIPAL_STATEMENT: Statement = { name: 'tiergate_principal', text: PRINCIPAL_SELECT };

/**
 * Turns verified claims into a Principal from the current rows, so a disabled user or agency,
 * a changed role, a revoked token or one from before the user's sessions were ended stops
 * working on the very next request.
 */
export async function resolvePrincipal(db: Executor, claims: AccessTokenClaims): Promise<Principal> {
  // One statement, sent by name.
  const [row] = await runStatement<PrincipalRow>(db, PRINCIPAL_STATEMENT, principalParams(claims));
  return principalOf(row, claims);
}

/**
 * The checks of `resolvePrincipal`, in its order, on a row of `PRINCIPAL_SELECT` (undefined: no
 * such user), for a route that read that row within a statement of its own. Throws TokenRejected.
 */
export function principalOf(row: PrincipalRow | undefined, claims: AccessTokenClaims): Principal {
  if (!row) throw new TokenRejected('user_unknown');
  if (row.userDisabled) throw new TokenRejected('user_disabled');
  if (row.agencyDisabled) throw new TokenRejected('agency_disabled');
  if (row.userApproval !== 'approved') throw new TokenRejected('user_not_approved');
  // The user's sessions were ended (MFA reset, role change, disable): so is every token from a
  // sign-in before that, re-issued ones included (they keep their sign-in's `auth_time`).
  if (row.tokensValidAfterMs !== null && (claims.auth_time ?? claims.iat ?? 0) * 1000 < row.tokensValidAfterMs) throw new TokenRejected('sessions_ended');
  if (row.role !== claims.role || row.agencySlug !== claims.agency) throw new TokenRejected('claims_stale');
  if (row.revoked) throw new TokenRejected('token_revoked');
  let clientRole: string | undefined;
  if (claims.client_id !== undefined) {
    if (!row.clientFound || row.clientDisabled || row.clientAgencyId !== row.agencyId) throw new TokenRejected('client_disabled');
    if (row.clientApproval !== 'approved') throw new TokenRejected('client_not_approved');
    if (row.clientServiceUserId !== row.userId) {
      // Acting for a user: only one still on the client's list, and never above the client's own
      // role (SPEC principle 10). The role is the client's current one, whatever the token says.
      if (!(row.clientAllowedUserIds ?? []).includes(row.userId)) throw new TokenRejected('client_user_not_allowed');
      if (row.clientRole === null || (claims.client_role !== undefined && claims.client_role !== row.clientRole)) throw new TokenRejected('claims_stale');
      clientRole = row.clientRole;
    }
  }
  return {
    userId: row.userId,
    username: row.username,
    agencyId: row.agencyId,
    agency: row.agencySlug,
    agencyKind: row.agencyKind as AgencyKind,
    role: row.role,
    jti: claims.jti,
    amr: claims.amr ?? [],
    ...(claims.client_id !== undefined ? { clientId: claims.client_id } : {}),
    ...(clientRole !== undefined ? { clientRole } : {}),
  };
}
