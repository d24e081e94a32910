import { eq } from 'drizzle-orm';
import type { Executor } from '../db/client.js';
import { consoleSealedSessions, users } from '../db/schema/index.js';

/**
 * Ends everything a user is signed in with, at once, in the caller's transaction (an MFA reset,
 * a role change, a disable): their console sessions go, and every token already issued to them
 * (console or API, re-issued or not) fails from the next request, because its sign-in
 * (`auth_time`) is older than `users.tokens_valid_after` (checked in `resolvePrincipal`).
 * The gateway's clock, like the tokens' own `auth_time`, so both sides of the comparison agree.
 */
export async function endUserSessions(tx: Executor, userId: string): Promise<void> {
  await tx.update(users).set({ tokensValidAfter: new Date() }).where(eq(users.id, userId));
  await tx.delete(consoleSealedSessions).where(eq(consoleSealedSessions.userId, userId));
}
