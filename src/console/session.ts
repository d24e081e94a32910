import type { Request, RequestHandler } from 'express';
import session from 'express-session';
import { decodeJwt } from 'jose';
import type { AppDeps } from '../deps.js';
import { deriveSubkey } from '../auth/keys.js';
import type { Config } from '../config/index.js';
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
    /** The signed-in user (kept in clear, so their sessions can be ended). */
    userId?: string;
    /** When the user signed in, ms: the absolute lifetime counts from it, through token re-issues. */
    authAt?: number;
    lastSeenAt?: number;
    flash?: string;
    /** A "check your answers" step (consent, break glass), which the confirm post must match, or an enrolment under way. */
    pending?: Record<string, unknown>;
    /** The last search's answer, sealed with the key-encryption key, for the GET after the post. */
    searchResults?: string;
  }
}

/** The absolute lifetime of a console session, from the sign-in (SESSION_MAX_HOURS). */
export const maxSessionMs = (config: Pick<Config, 'SESSION_MAX_HOURS'>) => config.SESSION_MAX_HOURS * 3_600_000;

/** The key that seals session rows: derived from the key-encryption key, for this use only. */
export const sessionPayloadKey = (config: Pick<Config, 'keyEncryptionKey'>) => deriveSubkey(config.keyEncryptionKey, 'console session payload');

/** What signs the session id in the cookie: derived from the key-encryption key, no new secret to manage. */
export const sessionCookieSecret = (config: Pick<Config, 'keyEncryptionKey'>) =>
  deriveSubkey(config.keyEncryptionKey, 'console session cookie').toString('base64url');

/**
 * Server-side sessions: the browser holds an opaque id in an HttpOnly, SameSite=Strict cookie
 * (Secure in production and whenever the request came over TLS); the bearer token stays in the
 * database row, sealed. The cookie and the row both expire after 15 idle minutes (rolling); the
 * session also ends SESSION_MAX_HOURS after its sign-in (`identify`).
 */
export function sessions({ db, config }: AppDeps): RequestHandler {
  return session({
    name: 'tiergate.sid',
    secret: sessionCookieSecret(config),
    store: new DatabaseSessionStore(db, sessionPayloadKey(config), IDLE_MS, maxSessionMs(config)),
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

/**
 * After a granted sign-in: a new session id (no fixation) holding the token, its user and the
 * time of the sign-in; the user's least recently used sessions beyond a few are ended.
 */
export async function startSession(req: Request, token: string, amr: string[]): Promise<void> {
  const claims = decodeJwt(token);
  await regenerate(req);
  req.session.token = token;
  req.session.amr = amr;
  req.session.userId = claims.sub!;
  req.session.authAt = typeof claims.auth_time === 'number' ? claims.auth_time * 1000 : Date.now();
  req.session.lastSeenAt = Date.now();
  await save(req);
  if (req.sessionStore instanceof DatabaseSessionStore) await req.sessionStore.keepNewest(claims.sub!);
}

/** Sign-out and idle logoff: the token is revoked (logged) and the session row deleted. */
export async function endSession(deps: AppDeps, req: Request): Promise<void> {
  const token = req.session?.token;
  if (token) await revokeAccessToken(deps, req.id, token);
  if (req.session) await destroy(req);
}

export type SessionEnd = 'idle' | 'expired' | 'rejected';

/**
 * When the session's sign-in was: the earlier of the row's time and the token's signed
 * `auth_time` (read here only to shorten a session, never to lengthen it), so neither an edited
 * row nor anything else makes a session outlive its first sign-in.
 */
function signedInAt(s: { token: string; authAt?: number }): number {
  const claimed = decodeJwt(s.token).auth_time;
  const times = [s.authAt, typeof claimed === 'number' ? claimed * 1000 : undefined].filter((t) => t !== undefined);
  // Neither known: the session has no sign-in time, so it is over.
  return times.length ? Math.min(...times) : 0;
}

/**
 * Resolves the signed-in principal on every console request, as the bearer strategy does for
 * the API: the token's signature, expiry and revocation, and the user's current rows. A session
 * idle past the limit or older than its absolute lifetime is ended (its token revoked, logged);
 * one whose token no longer passes is ended and the refusal logged.
 */
export function identify(deps: AppDeps): RequestHandler {
  const { tokens, db, runner, config } = deps;
  const maxMs = maxSessionMs(config);
  return async (req, res, next) => {
    try {
      const s = req.session;
      if (!s?.token) return next();
      const authAt = signedInAt({ token: s.token, authAt: s.authAt });
      const end: SessionEnd | undefined = !s.lastSeenAt || Date.now() - s.lastSeenAt > IDLE_MS ? 'idle' : Date.now() - authAt > maxMs ? 'expired' : undefined;
      if (end) {
        await endSession(deps, req);
        res.locals.sessionEnded = end;
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
        const { jti: _jti, amr: _amr, ...who } = principal;
        // The new token continues the same sign-in: its `auth_time` is the session's.
        const fresh = await issueToken(deps, req, who, s.amr ?? ['pwd'], authAt);
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
