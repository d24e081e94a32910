import { index, jsonb, pgTable, text, timestamp } from 'drizzle-orm/pg-core';

/**
 * Web-console sessions (express-session store). `sess` holds the session's access token and CSRF
 * secret, so the browser keeps only an opaque session id in an HttpOnly cookie.
 */
export const consoleSessions = pgTable(
  'console_sessions',
  {
    sid: text('sid').primaryKey(),
    sess: jsonb('sess').notNull(),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
  },
  (t) => [index('console_sessions_expires_at_idx').on(t.expiresAt)],
);
