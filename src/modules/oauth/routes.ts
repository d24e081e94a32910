import express, { Router, type RequestHandler } from 'express';
import { eq } from 'drizzle-orm';
import { decodeJwt } from 'jose';
import { z } from 'zod';
import type { AppDeps } from '../../app.js';
import { verifyPassword } from '../../auth/passwords.js';
import { TokenRejected } from '../../auth/tokens.js';
import { AUDIT_ACTIONS as A } from '../../audit/vocabulary.js';
import { agencies, revokedTokens, users } from '../../db/schema/index.js';
import { OAuthError } from '../../errors/problems.js';
import type { AgencyKind } from '../../authz/vocabulary.js';

const passwordGrant = z.strictObject({
  grant_type: z.literal('password'),
  username: z.string().min(1).max(200),
  password: z.string().min(1).max(1024),
  otp: z.string().regex(/^[0-9]{6}$/).optional(),
  scope: z.string().max(200).optional(),
});
const revokeBody = z.strictObject({ token: z.string().min(1).max(8192), token_type_hint: z.string().max(50).optional() });

/** Rejects anything but a flat form or JSON object; unknown fields are `invalid_request`. */
const formOrJson: RequestHandler[] = [express.urlencoded({ extended: false, limit: '8kb' }), express.json({ limit: '8kb' })];

const parse = <T>(schema: z.ZodType<T>, body: unknown): T => {
  const parsed = schema.safeParse(body ?? {});
  if (!parsed.success) throw new OAuthError('invalid_request', 'The request is missing a field, or has an unknown or malformed one.');
  return parsed.data;
};

export function oauthRouter({ db, tokens, runner }: AppDeps): Router {
  const router = Router();

  /**
   * POST /oauth/token. Enforces: a supported grant type; the password grant's exact fields;
   * argon2id verification in constant shape whether or not the user exists; active user and
   * agency; the second factor when the user has one (seam for TOTP). Every outcome is logged.
   */
  router.post('/token', ...formOrJson, async (req, res) => {
    const grantType = (req.body as { grant_type?: unknown } | undefined)?.grant_type;
    if (grantType === 'client_credentials') throw new OAuthError('unsupported_grant_type', 'Machine clients are not enabled on this gateway yet.');
    if (grantType !== 'password') throw new OAuthError(grantType ? 'unsupported_grant_type' : 'invalid_request');
    const body = parse(passwordGrant, req.body);
    const [row] = await db
      .select({ user: users, agency: agencies })
      .from(users)
      .innerJoin(agencies, eq(agencies.id, users.agencyId))
      .where(eq(users.username, body.username))
      .limit(1);
    const passwordOk = await verifyPassword(row?.user.passwordHash, body.password);
    const refusal = !row || !passwordOk ? 'bad-credentials' : row.user.disabledAt || row.agency.disabledAt ? 'disabled' : row.user.totpSecretEnc ? 'second-factor-required' : undefined;
    if (refusal || !row) {
      await runner.deny({ requestId: req.id, action: A.tokenIssue, decision: 'deny', reason: refusal ?? 'bad-credentials', detail: { username: body.username.slice(0, 200) } }).catch(() => {
        throw new OAuthError('temporarily_unavailable');
      });
      throw new OAuthError('invalid_grant', 'The credentials are not valid.');
    }
    const accessToken = await tokens.issue({ userId: row.user.id, agency: row.agency.slug, agencyKind: row.agency.kind, role: row.user.role, amr: ['pwd'] });
    // No token leaves unless its issue is in the log.
    await runner
      .record({
        requestId: req.id,
        actor: { userId: row.user.id, username: row.user.username, agencyId: row.agency.id, agency: row.agency.slug, agencyKind: row.agency.kind as AgencyKind, role: row.user.role, jti: '' },
        action: A.tokenIssue,
        decision: 'allow',
        detail: { jti: decodeJwt(accessToken).jti },
      })
      .catch(() => {
        throw new OAuthError('temporarily_unavailable');
      });
    res.set('Cache-Control', 'no-store').set('Pragma', 'no-cache').json({ access_token: accessToken, token_type: 'Bearer', expires_in: tokens.ttlSeconds });
  });

  /** POST /oauth/revoke (RFC 7009): a valid token's jti is revoked until it would expire; always 200. */
  router.post('/revoke', ...formOrJson, async (req, res) => {
    const { token } = parse(revokeBody, req.body);
    const claims = await tokens.verify(token).catch((err) => {
      if (err instanceof TokenRejected) return undefined;
      throw new OAuthError('temporarily_unavailable');
    });
    if (claims) {
      await db
        .insert(revokedTokens)
        .values({ jti: claims.jti, expiresAt: new Date(claims.exp! * 1000) })
        .onConflictDoNothing()
        .catch(() => {
          throw new OAuthError('temporarily_unavailable');
        });
      await runner.record({ requestId: req.id, action: A.tokenRevoke, decision: 'allow', detail: { jti: claims.jti, sub: claims.sub } }).catch(() => {
        throw new OAuthError('temporarily_unavailable');
      });
    }
    res.set('Cache-Control', 'no-store').status(200).json({});
  });

  return router;
}
