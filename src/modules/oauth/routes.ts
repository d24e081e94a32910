import express, { Router, type RequestHandler } from 'express';
import { z } from 'zod';
import type { AppDeps } from '../../deps.js';
import { OAuthError } from '../../errors/problems.js';
import { errorSummary } from '../../logger.js';
import { clientCredentialsGrant } from './client-credentials-grant.js';
import { enrolmentRouter } from './enrolment.js';
import { parseGrant } from './issue.js';
import { passwordGrant } from './password-grant.js';
import { revokeAccessToken } from './revoke.js';

export const revokeBody = z.strictObject({ token: z.string().min(1).max(8192), token_type_hint: z.string().max(50).optional() });

/** Rejects anything but a flat form or JSON object; unknown fields are `invalid_request`. */
const formOrJson: RequestHandler[] = [express.urlencoded({ extended: false, limit: '8kb' }), express.json({ limit: '8kb' })];

export function oauthRouter(deps: AppDeps): Router {
  const router = Router();

  /** POST /oauth/token: dispatches on grant_type; each grant enforces its own rules. */
  router.post('/token', ...formOrJson, async (req, res) => {
    const grantType = (req.body as { grant_type?: unknown } | undefined)?.grant_type;
    const grant = grantType === 'password' ? passwordGrant : grantType === 'client_credentials' ? clientCredentialsGrant : undefined;
    // A missing or repeated (array) grant_type is invalid_request (RFC 6749 section 5.2).
    if (!grant) throw new OAuthError(typeof grantType === 'string' && grantType ? 'unsupported_grant_type' : 'invalid_request');
    // A database failure inside a grant is not the client's fault: RFC 6749's temporarily_unavailable.
    const body = await grant(deps, req).catch((err: unknown) => {
      if (err instanceof OAuthError) throw err;
      deps.logger.error({ requestId: req.id, err: errorSummary(err) }, 'token grant failed');
      throw new OAuthError('temporarily_unavailable');
    });
    res.set('Cache-Control', 'no-store').set('Pragma', 'no-cache').json(body);
  });

  router.use('/enrol', ...formOrJson, enrolmentRouter(deps));

  /** POST /oauth/revoke (RFC 7009): a valid token's jti is revoked until it would expire; always 200. */
  router.post('/revoke', ...formOrJson, async (req, res) => {
    const { token } = parseGrant(revokeBody, req.body);
    await revokeAccessToken(deps, req.id, token);
    res.set('Cache-Control', 'no-store').status(200).json({});
  });

  return router;
}
