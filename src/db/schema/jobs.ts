import { sql } from 'drizzle-orm';
import { check, index, integer, jsonb, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { users } from './identity.js';

/**
 * Whole-log verifications started from the console, so that any worker or instance can show a
 * job's progress. Holds no person data: who asked, the phase, how many entries, and the report's
 * summary (counts, and the first failure's leaf, entry id and reason).
 */
export const auditVerifyJobs = pgTable(
  'audit_verify_jobs',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    requestedBy: uuid('requested_by')
      .notNull()
      .references(() => users.id),
    phase: text('phase').notNull().default('reading'),
    entries: integer('entries'),
    startedAt: timestamp('started_at', { withTimezone: true }).notNull().defaultNow(),
    // The running worker's lease: renewed while it works; a job whose lease lapsed is abandoned.
    heartbeatAt: timestamp('heartbeat_at', { withTimezone: true }).notNull().defaultNow(),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
    report: jsonb('report'),
  },
  (t) => [
    check('audit_verify_jobs_phase', sql`${t.phase} in ('reading', 'checking', 'done', 'failed')`),
    check('audit_verify_jobs_finished', sql`(${t.finishedAt} is null) = (${t.phase} in ('reading', 'checking'))`),
    // At most one running verification per deployment: each loads the whole log.
    uniqueIndex('audit_verify_jobs_one_running')
      .on(sql`(true)`)
      .where(sql`${t.finishedAt} is null`),
    index('audit_verify_jobs_started_at_idx').on(t.startedAt),
  ],
);
