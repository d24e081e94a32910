import { createHash } from 'node:crypto';
import { and, desc, eq, gt, lt, notInArray, or } from 'drizzle-orm';
import session from 'express-session';
import { openSecret, sealSecret } from '../auth/keys.js';
import type { Db } from '../db/client.js';
import { consoleSealedSessions } from '../db/schema/index.js';

type Callback = (err?: unknown) => void;

/** A user's sessions beyond this many (the least recently used) are ended at sign-in. */
export const MAX_SESSIONS_PER_USER = 5;

/** The row's key: a copied row's key is not a session id, so it cannot be replayed as a cookie. */
export const sidHash = (sid: string) => createHash('sha256').update(sid).digest('base64url');

/** Only sessions that hold something are stored: a stranger's visit leaves no row. */
const worthKeeping = (sess: session.SessionData) => Boolean(sess.token || sess.pending);

/**
 * express-session store in the gateway's own database (PGlite or PostgreSQL alike), so every
 * instance sees every session and the browser keeps only the session id. A row holds the id's
 * SHA-256, who and when in clear (for ending a user's sessions, the logoffs and the sweep), and
 * everything else sealed (AES-256-GCM, the session id as associated data, so a row moved to
 * another id does not open).
 */
export class DatabaseSessionStore extends session.Store {
  private writes = 0;

  constructor(
    private readonly db: Db,
    /** The payload key, derived from the key-encryption key. */
    private readonly key: Buffer,
    private readonly idleMs: number,
    private readonly maxAgeMs: number,
  ) {
    super();
  }

  private expiry(sess: session.SessionData): Date {
    return sess.cookie?.expires ? new Date(sess.cookie.expires) : new Date(Date.now() + this.idleMs);
  }

  override get(sid: string, cb: (err: unknown, sess?: session.SessionData | null) => void): void {
    this.db
      .select()
      .from(consoleSealedSessions)
      .where(and(eq(consoleSealedSessions.sidHash, sidHash(sid)), gt(consoleSealedSessions.expiresAt, new Date())))
      .limit(1)
      .then(([row]) => {
        if (!row) return cb(null, null);
        let sealed: session.SessionData;
        try {
          sealed = JSON.parse(openSecret(row.sealed, this.key, sid)) as session.SessionData;
        } catch {
          // Not sealed for this id under this key (moved, altered, or another key): no session.
          return cb(null, null);
        }
        cb(null, {
          ...sealed,
          ...(row.userId ? { userId: row.userId } : {}),
          ...(row.authenticatedAt ? { authAt: row.authenticatedAt.getTime() } : {}),
          lastSeenAt: row.lastSeenAt.getTime(),
        });
      }, cb);
  }

  override set(sid: string, sess: session.SessionData, cb: Callback = () => {}): void {
    if (!worthKeeping(sess)) return this.destroy(sid, cb);
    const { userId, authAt, lastSeenAt, ...secret } = sess;
    const row = {
      userId: userId ?? null,
      sealed: sealSecret(JSON.stringify(secret), this.key, sid),
      authenticatedAt: authAt ? new Date(authAt) : null,
      lastSeenAt: new Date(lastSeenAt ?? Date.now()),
      expiresAt: this.expiry(sess),
    };
    this.db
      .insert(consoleSealedSessions)
      .values({ sidHash: sidHash(sid), ...row })
      .onConflictDoUpdate({ target: consoleSealedSessions.sidHash, set: row })
      .then(() => this.sweep())
      .then(() => cb(), cb);
  }

  override touch(sid: string, sess: session.SessionData, cb: Callback = () => {}): void {
    this.db
      .update(consoleSealedSessions)
      .set({ expiresAt: this.expiry(sess) })
      .where(eq(consoleSealedSessions.sidHash, sidHash(sid)))
      .then(() => cb(), cb);
  }

  override destroy(sid: string, cb: Callback = () => {}): void {
    this.db
      .delete(consoleSealedSessions)
      .where(eq(consoleSealedSessions.sidHash, sidHash(sid)))
      .then(() => cb(), cb);
  }

  /** Keeps a user's `MAX_SESSIONS_PER_USER` most recently used sessions and ends the others. */
  async keepNewest(userId: string): Promise<void> {
    const newest = this.db
      .select({ sidHash: consoleSealedSessions.sidHash })
      .from(consoleSealedSessions)
      .where(eq(consoleSealedSessions.userId, userId))
      .orderBy(desc(consoleSealedSessions.lastSeenAt))
      .limit(MAX_SESSIONS_PER_USER);
    await this.db.delete(consoleSealedSessions).where(and(eq(consoleSealedSessions.userId, userId), notInArray(consoleSealedSessions.sidHash, newest)));
  }

  /**
   * Rows past their idle expiry or their absolute lifetime go now and then; their tokens have
   * expired with them (token TTL ≤ idle limit).
   */
  private async sweep(): Promise<void> {
    if (this.writes++ % 50 !== 0) return;
    const now = Date.now();
    await this.db
      .delete(consoleSealedSessions)
      .where(or(lt(consoleSealedSessions.expiresAt, new Date(now)), lt(consoleSealedSessions.authenticatedAt, new Date(now - this.maxAgeMs))));
  }
}
