import type { AppDeps } from '../../deps.js';
import { appendAccessLog } from '../../audit/append.js';
import { AUDIT_ACTIONS as A } from '../../audit/vocabulary.js';
import { TokenRejected } from '../../auth/tokens.js';
import { revokedTokens } from '../../db/schema/index.js';
import { OAuthError } from '../../errors/problems.js';

/**
 * Revokes a valid token's jti until it would expire (RFC 7009; used by POST /oauth/revoke and the
 * console's sign-out). An invalid token is ignored. The revocation and its log entry commit
 * together, or neither does (OAuthError temporarily_unavailable).
 */
export async function revokeAccessToken({ db, tokens }: Pick<AppDeps, 'db' | 'tokens'>, requestId: string, token: string): Promise<void> {
  const claims = await tokens.verify(token).catch((err) => {
    if (err instanceof TokenRejected) return undefined;
    throw new OAuthError('temporarily_unavailable');
  });
  if (!claims) return;
  await db
    .transaction(async (tx) => {
      await tx
        .insert(revokedTokens)
        .values({ jti: claims.jti, expiresAt: new Date(claims.exp! * 1000) })
        .onConflictDoNothing();
      await appendAccessLog(tx, { requestId, action: A.tokenRevoke, decision: 'allow', detail: { jti: claims.jti, sub: claims.sub } });
    })
    .catch(() => {
      throw new OAuthError('temporarily_unavailable');
    });
}
