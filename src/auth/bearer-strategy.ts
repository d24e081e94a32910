import type { Request, RequestHandler } from 'express';
import passport from 'passport';
import type { Db } from '../db/client.js';
import type { AuditedRunner } from '../audit/audited.js';
import { AUDIT_ACTIONS } from '../audit/vocabulary.js';
import { ServiceUnavailable, Unauthorized } from '../errors/problems.js';
import { resolvePrincipal } from './principals.js';
import { TokenRejected, type TokenService } from './tokens.js';

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/**
 * Passport strategy for `Authorization: Bearer <jwt>` (RFC 6750 section 2.1 only).
 * Enforces: exactly one Authorization header; the Bearer scheme; a compact JWS; no token in the
 * query string or body; then TokenService.verify and the principal's current state.
 */
export class BearerStrategy extends passport.Strategy {
  override name = 'bearer';

  constructor(
    private readonly tokens: TokenService,
    private readonly db: Db,
  ) {
    super();
  }

  override authenticate(req: Request): void {
    const reject = (reason: string) => this.fail({ reason }, 401);
    if (req.query && 'access_token' in req.query) return reject('token_in_query');
    if (req.rawHeaders.filter((_, i) => i % 2 === 0 && req.rawHeaders[i]!.toLowerCase() === 'authorization').length > 1) {
      return reject('multiple_authorization_headers');
    }
    const header = req.get('authorization');
    if (!header) return reject('token_missing');
    const [scheme, token, ...rest] = header.split(' ');
    if (scheme?.toLowerCase() !== 'bearer' || !token || rest.length > 0) return reject('scheme_invalid');
    if (!COMPACT_JWS.test(token)) return reject('token_malformed');
    this.tokens
      .verify(token)
      .then((claims) => resolvePrincipal(this.db, claims))
      .then(
        (principal) => this.success(principal),
        (err) => (err instanceof TokenRejected ? reject(err.reason) : this.error(err)),
      );
  }
}

/** Authenticates a /v1 request; a refusal is logged as a denial (fail closed) and answers 401. */
export function requireBearer(authenticator: passport.Authenticator, runner: AuditedRunner): RequestHandler {
  return (req, res, next) => {
    authenticator.authenticate('bearer', { session: false }, (err: unknown, user: Express.User | false, info: { reason?: string } | undefined) => {
      if (err) return next(new ServiceUnavailable('Credentials cannot be checked right now.'));
      if (user) {
        req.user = user;
        return next();
      }
      const reason = info?.reason ?? 'token_invalid';
      runner
        .deny({ requestId: req.id, action: AUDIT_ACTIONS.authenticate, decision: 'deny', reason, detail: { path: req.baseUrl + req.path } })
        .then(() => next(new Unauthorized(reason)), next);
    })(req, res, next);
  };
}
