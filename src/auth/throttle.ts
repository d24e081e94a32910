import { eq, inArray, sql } from 'drizzle-orm';
import type { Executor } from '../db/client.js';
import { loginThrottle } from '../db/schema/index.js';

/**
 * Failed-login throttling in the database, so every gateway instance sees the same counts.
 * An account key is the submitted username (known or not, so the answer never tells which);
 * an address key is the client address. Past the limit within the window the key is locked.
 */
export const THROTTLE = {
  windowSeconds: 15 * 60,
  lockSeconds: 15 * 60,
  accountLimit: 5,
  addressLimit: 20,
} as const;

export const accountKey = (username: string) => `account:${username.toLowerCase()}`;
export const addressKey = (address: string | undefined) => `address:${address ?? 'unknown'}`;

/** Seconds until the most distant lock among `keys` ends, or 0 when none is locked. */
export async function lockedFor(db: Executor, keys: string[], now = new Date()): Promise<number> {
  const rows = await db.select({ lockedUntil: loginThrottle.lockedUntil }).from(loginThrottle).where(inArray(loginThrottle.key, keys));
  const until = Math.max(0, ...rows.map((r) => r.lockedUntil?.getTime() ?? 0));
  return until > now.getTime() ? Math.ceil((until - now.getTime()) / 1000) : 0;
}

/** Counts a failure against each key (atomically) and locks the keys that reach their limit. */
export async function recordFailure(db: Executor, keys: { key: string; limit: number }[]): Promise<void> {
  for (const { key, limit } of keys) {
    await db
      .insert(loginThrottle)
      .values({ key, failures: 1 })
      .onConflictDoUpdate({
        target: loginThrottle.key,
        set: {
          failures: sql`case when ${loginThrottle.windowStart} < now() - make_interval(secs => ${THROTTLE.windowSeconds}) then 1 else ${loginThrottle.failures} + 1 end`,
          windowStart: sql`case when ${loginThrottle.windowStart} < now() - make_interval(secs => ${THROTTLE.windowSeconds}) then now() else ${loginThrottle.windowStart} end`,
        },
      });
    await db
      .update(loginThrottle)
      .set({ lockedUntil: sql`now() + make_interval(secs => ${THROTTLE.lockSeconds})` })
      .where(
        sql`${loginThrottle.key} = ${key} and ${loginThrottle.failures} >= ${limit} and (${loginThrottle.lockedUntil} is null or ${loginThrottle.lockedUntil} < now())`,
      );
  }
}

/** A successful login clears the account's count (the address count ages out on its own). */
export async function clearAccount(db: Executor, key: string): Promise<void> {
  await db.delete(loginThrottle).where(eq(loginThrottle.key, key));
}
