import { createHmac } from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import session from 'express-session';
import { decodeJwt } from 'jose';
import type { AppDeps } from '../app.js';
import { resolvePrincipal } from '../auth/principals.js';
import { TokenRejected } from '../auth/tokens.js';
import { AUDIT_ACTIONS as A } from '../audit/vocabulary.js';
import { issueToken } from '../modules/oauth/issue.js';
import { revokeAccessToken } from '../modules/oauth/revoke.js';
import { DatabaseSessionStore } from './session-store.js';

/** HIPAA 164.312(a)(2)(iii): a session with no request for this long is ended. */
export const IDLE_MS = 15 * 60_000;
/** The warning shows this long before the idle logoff. */
export const WARN_BEFORE_MS = 2 * 60_000;
// A token with less than this left is replaced on the next request, so an active user stays in.
const REFRESH_BEFORE_MS = 5 * 60_000;

declare module 'express-session' {
  interface SessionData {
    token?: string;
    amr?: string[];
    lastSeenAt?: number;
    flash?: string;
    /** Set by the clinician's "check your answers" step; the confirm post must match it. */
    pending?: Record<string, unknown>;
    /** The last search's answer, sealed with the key-encryption key, for the GET after the post. */
    searchResults?: string;
  }
}

/**
 * Server-side sessions: the browser holds an opaque id in an HttpOnly, SameSite=Strict cookie
 * (Secure in production and whenever the request came over TLS); the bearer token stays in the
 * database row. The cookie and the row both expire after 15 idle minutes (rolling).
 */
export function sessions({ db, config }: AppDeps): RequestHandler {
  return session({
    name: 'tiergate.sid',
    // Derived from the key-encryption key, so no new secret to manage; it only signs the session id.
    secret: createHmac('sha256', config.keyEncryptionKey).update('tiergate console session id').digest('base64url'),
    store: new DatabaseSessionStore(db, IDLE_MS),
    resave: false,
    saveUninitialized: false,
    rolling: true,
    unset: 'destroy',
    cookie: { httpOnly: true, sameSite: 'strict', secure: config.NODE_ENV === 'production' ? true : 'auto', maxAge: IDLE_MS, path: '/' },
  });
}

/**
 * Saves the session now. express-session saves at the end of the response but sends the headers
 * (a redirect's Location) first, so the next request could read the old session: anything a
 * page or redirect depends on is saved before it is sent.
 */
export const save = (req: Request) => new Promise<void>((resolve, reject) => req.session.save((err) => (err ? reject(err) : resolve())));
const regenerate = (req: Request) => new Promise<void>((resolve, reject) => req.session.regenerate((err) => (err ? reject(err) : resolve())));
const destroy = (req: Request) => new Promise<void>((resolve, reject) => req.session.destroy((err) => (err ? reject(err) : resolve())));

/** After a granted sign-in: a new session id (no fixation) holding the token. */
export async function startSession(req: Request, token: string, amr: string[]): Promise<void> {
  await regenerate(req);
  req.session.token = token;
  req.session.amr = amr;
  req.session.lastSeenAt = Date.now();
  await save(req);
}

/** Sign-out and idle logoff: the token is revoked (logged) and the session row deleted. */
export async function endSession(deps: AppDeps, req: Request): Promise<void> {
  const token = req.session?.token;
  if (token) await revokeAccessToken(deps, req.id, token);
  if (req.session) await destroy(req);
}

export type SessionEnd = 'idle' | 'rejected';

/**
 * Resolves the signed-in principal on every console request, as the bearer strategy does for
 * the API: the token's signature, expiry and revocation, and the user's current rows. A session
 * idle past the limit, or whose token no longer passes, is ended (and the refusal logged).
 */
export function identify(deps: AppDeps): RequestHandler {
  const { tokens, db, runner } = deps;
  return async (req, res, next) => {
    try {
      const s = req.session;
      if (!s?.token) return next();
      if (!s.lastSeenAt || Date.now() - s.lastSeenAt > IDLE_MS) {
        await endSession(deps, req);
        res.locals.sessionEnded = 'idle' satisfies SessionEnd;
        return next();
      }
      let principal;
      try {
        principal = await resolvePrincipal(db, await tokens.verify(s.token));
      } catch (err) {
        if (!(err instanceof TokenRejected)) throw err;
        await runner.deny({ requestId: req.id, action: A.authenticate, decision: 'deny', reason: err.reason, detail: { path: req.path, console: true } });
        await destroy(req);
        res.locals.sessionEnded = 'rejected' satisfies SessionEnd;
        return next();
      }
      const exp = (decodeJwt(s.token).exp ?? 0) * 1000;
      if (exp - Date.now() < REFRESH_BEFORE_MS) {
        const { jti: _jti, ...who } = principal;
        const fresh = await issueToken(deps, req, who, s.amr ?? ['pwd']);
        s.token = fresh.access_token;
        principal = { ...principal, jti: decodeJwt(fresh.access_token).jti! };
      }
      s.lastSeenAt = Date.now();
      req.user = principal;
      next();
    } catch (err) {
      next(err);
    }
  };
}
