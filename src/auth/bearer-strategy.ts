import type { NextFunction, Request, RequestHandler, Response } from 'express';
import passport from 'passport';
import type { Db } from '../db/client.js';
import type { AuditedRunner } from '../audit/audited.js';
import { AUDIT_ACTIONS } from '../audit/vocabulary.js';
import { ServiceUnavailable, Unauthorized } from '../errors/problems.js';
import type { Principal } from './principal.js';
import { resolvePrincipal } from './principals.js';
import { decodeProtectedHeader } from 'jose';
import type { KeyStore } from './keys.js';
import { TokenRejected, type AccessTokenClaims, type TokenService } from './tokens.js';

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const VERIFIED_CACHE_SIZE = 10_000;

/**
 * Tokens whose signature and claims verified, so a token's ES256 signature is checked once, not
 * on every request. Only what cannot change for the same token string is remembered: a hit is
 * used only before the token's `exp` and while its key is still a live verification key (a
 * retired key's tokens fail at once). Revocation, a disabled user or agency and a changed role
 * are never cached: a route's principal step reads them on every request.
 */
class VerifiedTokens {
  private readonly entries = new Map<string, { claims: AccessTokenClaims; kid: string; expMs: number }>();

  constructor(private readonly keys?: Pick<KeyStore, 'verificationKey'>) {}

  async get(token: string): Promise<AccessTokenClaims | undefined> {
    const hit = this.entries.get(token);
    if (!hit) return undefined;
    if (Date.now() >= hit.expMs || !this.keys || !(await this.keys.verificationKey(hit.kid))) {
      this.entries.delete(token);
      return undefined;
    }
    return hit.claims;
  }

  /** `ttlSeconds` bounds a hit by the token's age too, as verification's maxTokenAge does. */
  set(token: string, claims: AccessTokenClaims, ttlSeconds: number): void {
    if (!this.keys || typeof claims.exp !== 'number' || typeof claims.iat !== 'number') return;
    let kid: unknown;
    try {
      kid = decodeProtectedHeader(token).kid;
    } catch {
      return;
    }
    if (typeof kid !== 'string') return;
    // Oldest first out: a Map iterates in insertion order.
    if (this.entries.size >= VERIFIED_CACHE_SIZE) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(token, { claims, kid, expMs: Math.min(claims.exp, claims.iat + ttlSeconds) * 1000 });
  }
}

declare global {
  namespace Express {
    interface Request {
      /** The bearer token's verified claims (`verifyBearer`), before a principal step turns them into `user`. */
      bearerClaims?: AccessTokenClaims;
    }
  }
}

/**
 * Passport strategy for `Authorization: Bearer <jwt>` (RFC 6750 section 2.1 only).
 * Enforces: exactly one Authorization header; the Bearer scheme; a compact JWS; no token in the
 * query string or body; then TokenService.verify (signature, algorithm, issuer, audience, expiry,
 * `typ`). No database: the principal's current state is each route's principal step.
 */
export class BearerStrategy extends passport.Strategy {
  override name = 'bearer';

  private readonly verified: VerifiedTokens;

  constructor(
    private readonly tokens: TokenService,
    keys?: Pick<KeyStore, 'verificationKey'>,
  ) {
    super();
    this.verified = new VerifiedTokens(keys);
  }

  private async claimsOf(token: string): Promise<AccessTokenClaims> {
    const cached = await this.verified.get(token);
    if (cached) return cached;
    const claims = await this.tokens.verify(token);
    this.verified.set(token, claims, this.tokens.ttlSeconds);
    return claims;
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
    this.claimsOf(token).then(
      // What passport calls the user is here the verified claims; `verifyBearer` puts them on
      // `req.bearerClaims`, never on `req.user`.
      (claims) => this.success(claims as unknown as Express.User),
      (err) => (err instanceof TokenRejected ? reject(err.reason) : this.error(err)),
    );
  }
}

/** An authentication refusal, as every /v1 step answers one: logged as a denial (fail closed), then 401. */
function refuse(runner: AuditedRunner, req: Request, reason: string, next: NextFunction): void {
  runner
    .deny({ requestId: req.id, action: AUDIT_ACTIONS.authenticate, decision: 'deny', reason, detail: { path: req.baseUrl + req.path } })
    .then(() => next(new Unauthorized(reason)), next);
}

/** /v1's first step: the bearer token's claims verified (BearerStrategy), into `req.bearerClaims`. No database. */
export function verifyBearer(authenticator: passport.Authenticator, runner: AuditedRunner): RequestHandler {
  return (req, res, next) => {
    authenticator.authenticate('bearer', { session: false }, (err: unknown, claims: AccessTokenClaims | false, info: { reason?: string } | undefined) => {
      if (err) return next(new ServiceUnavailable('Credentials cannot be checked right now.'));
      if (!claims) return refuse(runner, req, info?.reason ?? 'token_invalid', next);
      req.bearerClaims = claims;
      next();
    })(req, res, next);
  };
}

/**
 * A route's principal step: `resolve` turns the verified claims into the principal from the
 * current rows (and may read what the route needs with it, in the same statement). A principal
 * refused (TokenRejected) is logged and answered 401 as a refused token is; a database that
 * cannot answer, 503.
 */
export function principalStep(runner: AuditedRunner, resolve: (claims: AccessTokenClaims, req: Request, res: Response) => Promise<Principal>): RequestHandler {
  return (req, res, next) => {
    const claims = req.bearerClaims;
    if (!claims) return next(new Error('a principal step ran before verifyBearer'));
    resolve(claims, req, res).then(
      (principal) => {
        req.user = principal;
        next();
      },
      (err: unknown) =>
        err instanceof TokenRejected ? refuse(runner, req, err.reason, next) : next(new ServiceUnavailable('Credentials cannot be checked right now.')),
    );
  };
}

/** The principal step of every /v1 route but those with their own: the principal alone (`resolvePrincipal`). */
export function requirePrincipal(db: Db, runner: AuditedRunner): RequestHandler {
  return principalStep(runner, (claims) => resolvePrincipal(db, claims));
}
