import { index, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { users } from './identity.js';

/**
 * Web-console sessions (express-session store), only for signed-in users and enrolments in
 * progress. Nothing in a row signs anyone in: the session id is stored as its SHA-256 (a copied
 * row's key is no cookie), and the payload (access token, pending steps, enrolment secrets) is
 * sealed with AES-256-GCM under a key derived from KEY_ENCRYPTION_KEY, bound to the session id.
 * The times are in clear: they say when, never who could act.
 */
export const consoleSealedSessions = pgTable(
  'console_sealed_sessions',
  {
    sidHash: text('sid_hash').primaryKey(),
    // The signed-in user (null during an enrolment), so an MFA reset, a role change or a disable
    // can end the user's sessions at once.
    userId: uuid('user_id').references(() => users.id),
    sealed: text('sealed').notNull(),
    // The original sign-in, carried through token re-issues: the absolute lifetime counts from it.
    authenticatedAt: timestamp('authenticated_at', { withTimezone: true }),
    // The last request: the idle logoff counts from it.
    lastSeenAt: timestamp('last_seen_at', { withTimezone: true }).notNull(),
    // The idle expiry of the row and cookie; expired rows are swept.
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
  },
  (t) => [index('console_sealed_sessions_user_id_idx').on(t.userId), index('console_sealed_sessions_expires_at_idx').on(t.expiresAt)],
);
