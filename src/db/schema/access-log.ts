import { bigint, bigserial, boolean, index, integer, jsonb, pgTable, primaryKey, text, timestamp, unique, uuid } from 'drizzle-orm/pg-core';
import { sql } from 'drizzle-orm';

/**
 * The append-only access log. Rows hold ids, tiers and rule names, never clinical content.
 * A trigger rejects UPDATE, DELETE and TRUNCATE, and the gateway's role holds no such privilege
 * (see the append_only_access_log migration). The table is range-partitioned by month of `at`
 * (migration 0007, which drizzle cannot express), so keys include `at` and retention drops whole
 * months; `id` and `seq` come from gen_random_uuid() and a sequence.
 */
export const accessLog = pgTable(
  'access_log',
  {
    id: uuid('id').notNull().defaultRandom(),
    // Insertion order for cursor paging.
    seq: bigserial('seq', { mode: 'number' }).notNull(),
    at: timestamp('at', { withTimezone: true }).notNull().defaultNow(),
    // The gateway's own id for the request (a UUID); the client's X-Request-Id is kept beside it.
    requestId: text('request_id').notNull(),
    clientRequestId: text('client_request_id'),
    actorUserId: uuid('actor_user_id'),
    actorUsername: text('actor_username'),
    actorAgency: text('actor_agency'),
    actorRole: text('actor_role'),
    // The machine client that made the request, when one did (alone or for actor_user_id).
    actorClient: text('actor_client'),
    subjectId: uuid('subject_id'),
    action: text('action').notNull(),
    decision: text('decision').notNull(),
    tier: text('tier'),
    basis: jsonb('basis').notNull().default([]),
    breakGlass: boolean('break_glass').notNull().default(false),
    reason: text('reason'),
    detail: jsonb('detail').notNull().default({}),
  },
  (t) => [
    primaryKey({ name: 'access_log_pkey', columns: [t.id, t.at] }),
    unique('access_log_seq_unique').on(t.seq, t.at),
    index('access_log_subject_idx').on(t.subjectId, t.seq),
    index('access_log_actor_idx').on(t.actorUserId, t.seq),
    index('access_log_at_idx').on(t.at),
    // The people a search matched (detail.matches): an accounting of disclosures and an event
    // search for one person find their search hits without reading every search in the log.
    index('access_log_matches_idx').using('gin', sql`(${t.detail} -> 'matches') jsonb_path_ops`),
  ],
);

/**
 * The seal of each access-log entry: its position in the Merkle tree and its leaf hash.
 * Written only by the sealer, in leaf order with no gaps; append-only like the log itself.
 */
export const auditSeals = pgTable('audit_seals', {
  leafIndex: bigint('leaf_index', { mode: 'number' }).primaryKey(),
  entryId: uuid('entry_id').notNull().unique(),
  leafHash: text('leaf_hash').notNull(),
  sealedAt: timestamp('sealed_at', { withTimezone: true }).notNull().defaultNow(),
});

/** Signed tree heads: a JWS by the gateway's key over {tree_size, root_hash, issued_at}. */
export const auditCheckpoints = pgTable('audit_checkpoints', {
  treeSize: bigint('tree_size', { mode: 'number' }).primaryKey(),
  rootHash: text('root_hash').notNull(),
  issuedAt: timestamp('issued_at', { withTimezone: true }).notNull().defaultNow(),
  kid: text('kid').notNull(),
  jws: text('jws').notNull(),
  // The roots of the perfect subtrees at this size (RFC 9162 compact range), so the next
  // checkpoint's root folds in only the leaves sealed since.
  frontier: jsonb('frontier').notNull().default([]),
});

/** Compliance reviews of break-glass grants; append-only (a changed mind is a new review). */
export const breakGlassReviews = pgTable('break_glass_reviews', {
  id: uuid('id').primaryKey().defaultRandom(),
  grantId: uuid('grant_id').notNull(),
  reviewerId: uuid('reviewer_id').notNull(),
  decision: text('decision').notNull(),
  note: text('note'),
  reviewedAt: timestamp('reviewed_at', { withTimezone: true }).notNull().defaultNow(),
});

/**
 * Entries appended but not yet sealed, written in the same transaction as the entry. The sealer
 * drains it in sequence order, so sealing costs O(new entries) and never scans the whole log.
 */
export const auditSealQueue = pgTable(
  'audit_seal_queue',
  {
    entryId: uuid('entry_id').primaryKey(),
    seq: bigint('seq', { mode: 'number' }).notNull(),
  },
  // The sealer reads the queue in seq order a batch at a time: without the index each batch
  // sorted the whole backlog (sealing a 1M backlog went superlinear, see bench:database).
  (t) => [index('audit_seal_queue_seq_idx').on(t.seq)],
);

/**
 * Signed records of partitions dropped by the retention command: which months and which leaves
 * of the Merkle tree they held. Seals stay, so the tree still verifies; an entry may be missing
 * only where a record signed by the gateway's key says it was retired. Append-only.
 */
export const auditRetentions = pgTable('audit_retentions', {
  id: uuid('id').primaryKey().defaultRandom(),
  partition: text('partition').notNull().unique(),
  rangeFrom: timestamp('range_from', { withTimezone: true }).notNull(),
  rangeTo: timestamp('range_to', { withTimezone: true }).notNull(),
  entries: integer('entries').notNull(),
  // Half-open [from, to) runs of the leaf indices the partition held.
  leafRanges: jsonb('leaf_ranges').notNull(),
  droppedAt: timestamp('dropped_at', { withTimezone: true }).notNull().defaultNow(),
  kid: text('kid').notNull(),
  jws: text('jws').notNull(),
});
