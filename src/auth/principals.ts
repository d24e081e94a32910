import { runStatement, type Executor, type Statement } from '../db/client.js';
import type { AgencyKind } from '../authz/vocabulary.js';
import type { Principal } from './principal.js';
import type { AccessTokenClaims } from './tokens.js';
import { TokenRejected } from './tokens.js';

interface PrincipalRow {
  userId: string;
  username: string;
  role: string;
  userDisabled: boolean;
  agencyId: string;
  agencySlug: string;
  agencyKind: string;
  agencyDisabled: boolean;
  revoked: boolean;
  clientFound: boolean;
  clientAgencyId: string | null;
  clientDisabled: boolean;
}

const PRINCIPAL_STATEMENT: Statement = {
  name: 'tiergate_principal',
  text: `SELECT u.id AS "userId", u.username, u.role, u.disabled_at IS NOT NULL AS "userDisabled",
                a.id AS "agencyId", a.slug AS "agencySlug", a.kind AS "agencyKind", a.disabled_at IS NOT NULL AS "agencyDisabled",
                EXISTS (SELECT 1 FROM revoked_tokens r WHERE r.jti = $2::text AND r.expires_at > now()) AS revoked,
                c.client_id IS NOT NULL AS "clientFound", c.agency_id AS "clientAgencyId", c.disabled_at IS NOT NULL AS "clientDisabled"
           FROM users u
           JOIN agencies a ON a.id = u.agency_id
           LEFT JOIN clients c ON c.client_id = $3::text
          WHERE u.id = $1::uuid`,
};

/**
 * Turns verified claims into a Principal from the current rows, so a disabled user or agency,
 * a changed role or a revoked token stops working on the very next request.
 */
export async function resolvePrincipal(db: Executor, claims: AccessTokenClaims): Promise<Principal> {
  // One statement, sent by name: the user, their agency, the token's revocation and its client.
  const [row] = await runStatement<PrincipalRow>(db, PRINCIPAL_STATEMENT, [claims.sub, claims.jti, claims.client_id ?? null]);
  if (!row) throw new TokenRejected('user_unknown');
  if (row.userDisabled) throw new TokenRejected('user_disabled');
  if (row.agencyDisabled) throw new TokenRejected('agency_disabled');
  if (row.role !== claims.role || row.agencySlug !== claims.agency) throw new TokenRejected('claims_stale');
  if (row.revoked) throw new TokenRejected('token_revoked');
  if (claims.client_id !== undefined) {
    if (!row.clientFound || row.clientDisabled || row.clientAgencyId !== row.agencyId) throw new TokenRejected('client_disabled');
  }
  return {
    userId: row.userId,
    username: row.username,
    agencyId: row.agencyId,
    agency: row.agencySlug,
    agencyKind: row.agencyKind as AgencyKind,
    role: row.role,
    jti: claims.jti,
    ...(claims.client_id !== undefined ? { clientId: claims.client_id } : {}),
  };
}
