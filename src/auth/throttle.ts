import { eq, sql } from 'drizzle-orm';
import type { Executor } from '../db/client.js';
import { loginThrottle as t } from '../db/schema/index.js';

/**
 * Sign-in throttling in the database, so every gateway instance sees the same counts. An account
 * key is the submitted username (known or not, so the answer never tells which); an address key
 * is the client address. Each key allows `limit` attempts within the window; the attempt that
 * reaches the limit locks the key for `lockSeconds`.
 *
 * An attempt is counted before its secret is checked: reserveAttempt takes one of the key's
 * attempts in a single statement, and only a reserved attempt may be checked. A failure needs no
 * second write (the reservation is the failure's count), so N parallel guesses get at most the
 * limit of checks, whichever instance or connection they arrive on.
 */
export const THROTTLE = {
  windowSeconds: 15 * 60,
  lockSeconds: 15 * 60,
  accountLimit: 5,
  addressLimit: 20,
} as const;

export const accountKey = (username: string) => `account:${username.toLowerCase()}`;
export const addressKey = (address: string | undefined) => `address:${address ?? 'unknown'}`;

/** A reserved attempt: the two keys it counts against. */
export interface Attempt {
  account: string;
  address: string;
}

export type Reservation = { attempt: Attempt } | { retryAfter: number };

const lockActive = sql`coalesce(${t.lockedUntil} > now(), false)`;
// Not locked now, and either an old lock ran out or the window passed: the count starts again.
const startsAfresh = sql`(${t.lockedUntil} is not null or ${t.windowStart} < now() - make_interval(secs => ${THROTTLE.windowSeconds}))`;
const lockFromNow = sql`now() + make_interval(secs => ${THROTTLE.lockSeconds})`;

/**
 * Takes one attempt of `key`, or none when the key is locked or at its limit; true when taken.
 * One INSERT ... ON CONFLICT DO UPDATE ... WHERE: PostgreSQL locks the conflicting row and
 * evaluates the condition and the increment on its latest version (also under READ COMMITTED),
 * so concurrent reservations of one key are serialised by the row lock and never overshoot.
 */
async function take(db: Executor, key: string, limit: number): Promise<boolean> {
  const count = sql`case when ${startsAfresh} then 1 else ${t.failures} + 1 end`;
  const taken = await db
    .insert(t)
    .values({ key, failures: 1, lockedUntil: limit <= 1 ? lockFromNow : null })
    .onConflictDoUpdate({
      target: t.key,
      set: {
        failures: count,
        windowStart: sql`case when ${startsAfresh} then now() else ${t.windowStart} end`,
        lockedUntil: sql`case when ${count} >= ${limit}::int then ${lockFromNow} else null end`,
      },
      setWhere: sql`not ${lockActive} and (${startsAfresh} or ${t.failures} < ${limit}::int)`,
    })
    .returning({ key: t.key });
  return taken.length === 1;
}

/** Gives one attempt of `key` back (an attempt that did not count), lifting a lock it set. */
async function giveBack(db: Executor, key: string, limit: number): Promise<void> {
  await db
    .update(t)
    .set({
      failures: sql`greatest(${t.failures} - 1, 0)`,
      lockedUntil: sql`case when ${t.failures} - 1 < ${limit}::int then null else ${t.lockedUntil} end`,
    })
    .where(eq(t.key, key));
}

/** Seconds until `key`'s lock ends (at least 1: the key was just found locked). */
async function lockedFor(db: Executor, key: string): Promise<number> {
  const [row] = await db.select({ lockedUntil: t.lockedUntil }).from(t).where(eq(t.key, key));
  const until = row?.lockedUntil?.getTime() ?? Date.now() + THROTTLE.lockSeconds * 1000;
  return Math.max(1, Math.ceil((until - Date.now()) / 1000));
}

/**
 * Reserves an attempt for `username` from `address` before any secret is checked. The address
 * goes first, so a locked address cannot spend (and lock) the accounts it names; an attempt that
 * the account then refuses gives the address its attempt back, as a refused attempt counts nothing.
 */
export async function reserveAttempt(db: Executor, username: string, address: string | undefined): Promise<Reservation> {
  const attempt = { account: accountKey(username), address: addressKey(address) };
  if (!(await take(db, attempt.address, THROTTLE.addressLimit))) return { retryAfter: await lockedFor(db, attempt.address) };
  if (!(await take(db, attempt.account, THROTTLE.accountLimit))) {
    await giveBack(db, attempt.address, THROTTLE.addressLimit);
    return { retryAfter: await lockedFor(db, attempt.account) };
  }
  return { attempt };
}

/**
 * A reserved attempt signed in (or enrolled): the account's count is cleared, as before. The
 * address only gets this attempt back, not a clean slate: one address is often many people (a
 * station behind NAT, a hospital's proxy), whose sign-ins must not use up its budget, while one
 * account an attacker controls must not wipe out the failures of its guesses against others.
 */
export async function attemptSucceeded(db: Executor, attempt: Attempt): Promise<void> {
  await db.delete(t).where(eq(t.key, attempt.account));
  await giveBack(db, attempt.address, THROTTLE.addressLimit);
}

/** A reserved attempt whose secrets were right but that was refused for another reason (a too-short new password). */
export async function releaseAttempt(db: Executor, attempt: Attempt): Promise<void> {
  await giveBack(db, attempt.account, THROTTLE.accountLimit);
  await giveBack(db, attempt.address, THROTTLE.addressLimit);
}
