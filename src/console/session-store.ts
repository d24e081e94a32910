import { eq, lt } from 'drizzle-orm';
import session from 'express-session';
import type { Db } from '../db/client.js';
import { consoleSessions } from '../db/schema/index.js';

type Callback = (err?: unknown) => void;

/**
 * express-session store in the gateway's own database (PGlite or PostgreSQL alike), so every
 * instance sees every session and nothing about a session lives in the browser but its id.
 */
export class DatabaseSessionStore extends session.Store {
  private writes = 0;

  constructor(
    private readonly db: Db,
    private readonly ttlMs: number,
  ) {
    super();
  }

  private expiry(sess: session.SessionData): Date {
    return sess.cookie?.expires ? new Date(sess.cookie.expires) : new Date(Date.now() + this.ttlMs);
  }

  override get(sid: string, cb: (err: unknown, sess?: session.SessionData | null) => void): void {
    this.db
      .select()
      .from(consoleSessions)
      .where(eq(consoleSessions.sid, sid))
      .limit(1)
      .then(([row]) => cb(null, row && row.expiresAt > new Date() ? (row.sess as session.SessionData) : null), cb);
  }

  override set(sid: string, sess: session.SessionData, cb: Callback = () => {}): void {
    const expiresAt = this.expiry(sess);
    const value = JSON.parse(JSON.stringify(sess)) as unknown;
    this.db
      .insert(consoleSessions)
      .values({ sid, sess: value, expiresAt })
      .onConflictDoUpdate({ target: consoleSessions.sid, set: { sess: value, expiresAt } })
      .then(() => this.sweep())
      .then(() => cb(), cb);
  }

  override touch(sid: string, sess: session.SessionData, cb: Callback = () => {}): void {
    this.db
      .update(consoleSessions)
      .set({ expiresAt: this.expiry(sess) })
      .where(eq(consoleSessions.sid, sid))
      .then(() => cb(), cb);
  }

  override destroy(sid: string, cb: Callback = () => {}): void {
    this.db
      .delete(consoleSessions)
      .where(eq(consoleSessions.sid, sid))
      .then(() => cb(), cb);
  }

  /** Expired rows go now and then; their tokens have expired with them (token TTL ≤ idle limit). */
  private async sweep(): Promise<void> {
    if (this.writes++ % 50 !== 0) return;
    await this.db.delete(consoleSessions).where(lt(consoleSessions.expiresAt, new Date()));
  }
}
