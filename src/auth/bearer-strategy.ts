import type { Request, RequestHandler } from 'express';
import passport from 'passport';
import type { Db } from '../db/client.js';
import type { AuditedRunner } from '../audit/audited.js';
import { AUDIT_ACTIONS } from '../audit/vocabulary.js';
import { ServiceUnavailable, Unauthorized } from '../errors/problems.js';
import { resolvePrincipalWith, type PrincipalRider } from './principals.js';
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
 * are never cached: `resolvePrincipal` reads them on every request.
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

/** A rider for the requests it applies to: its parameters from $4, or undefined to leave the request alone. */
export interface RequestRider {
  rider: PrincipalRider;
  params(req: Request): unknown[] | undefined;
}

// What a request's rider read with its principal; a request only, never kept past it.
const riddenRows = new WeakMap<Request, { rider: PrincipalRider; row: unknown }>();

/** The columns `rider` read with this request's principal, or undefined when it did not ride along. */
export function riddenWith<R>(req: Request, rider: PrincipalRider): R | undefined {
  const ridden = riddenRows.get(req);
  return ridden?.rider === rider ? (ridden.row as R) : undefined;
}

/**
 * Passport strategy for `Authorization: Bearer <jwt>` (RFC 6750 section 2.1 only).
 * Enforces: exactly one Authorization header; the Bearer scheme; a compact JWS; no token in the
 * query string or body; then TokenService.verify and the principal's current state.
 */
export class BearerStrategy extends passport.Strategy {
  override name = 'bearer';

  private readonly verified: VerifiedTokens;

  constructor(
    private readonly tokens: TokenService,
    private readonly db: Db,
    keys?: Pick<KeyStore, 'verificationKey'>,
    private readonly riders: RequestRider[] = [],
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
    let rider: { rider: PrincipalRider; params: unknown[] } | undefined;
    for (const r of this.riders) {
      const params = r.params(req);
      if (params) {
        rider = { rider: r.rider, params };
        break;
      }
    }
    this.claimsOf(token)
      .then((claims) => resolvePrincipalWith(this.db, claims, rider))
      .then(
        ({ principal, ridden }) => {
          if (rider) riddenRows.set(req, { rider: rider.rider, row: ridden });
          this.success(principal);
        },
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
