import { sql } from 'drizzle-orm';
import { bigint, check, date, index, jsonb, pgSequence, pgTable, primaryKey, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { agencies, users } from './identity.js';

export const subjects = pgTable(
  'subjects',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    givenName: text('given_name').notNull(),
    familyName: text('family_name').notNull(),
    birthDate: date('birth_date', { mode: 'string' }).notNull(),
    sex: text('sex').notNull(),
    agencyId: uuid('agency_id')
      .notNull()
      .references(() => agencies.id),
    createdBy: uuid('created_by')
      .notNull()
      .references(() => users.id),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    // The names as the matcher compares them (src/matching nameKey: case, accents, punctuation and
    // spaces folded), kept by the database itself through tiergate_name_key, an immutable wrapper
    // around unaccent (this table's migration).
    givenKey: text('given_key').generatedAlwaysAs(sql`tiergate_name_key(given_name)`),
    familyKey: text('family_key').generatedAlwaysAs(sql`tiergate_name_key(family_name)`),
  },
  // Blocking for the duplicate check and the search (src/modules/subjects/matching.ts): the date
  // of birth is always given, so a block is the people born on one of its variants; the name keys
  // and the id ride in the same index, so the block is filtered by name in an index-only scan and
  // only the people it keeps are fetched. No trigram index on the names alone: no search by name
  // goes without a birth date.
  (t) => [index('subjects_blocking_idx').on(t.birthDate, t.familyKey, t.givenKey, t.id)],
);

/**
 * Agencies' identifiers for a person (a police record number, a hospital MRN): the system is the
 * issuing agency. One value belongs to one person within its system, compared folded as the
 * matcher folds it ("P-20931" and "p 20931" are one number).
 */
export const subjectIdentifiers = pgTable(
  'subject_identifiers',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    subjectId: uuid('subject_id')
      .notNull()
      .references(() => subjects.id),
    agencyId: uuid('agency_id')
      .notNull()
      .references(() => agencies.id),
    value: text('value').notNull(),
    valueKey: text('value_key').generatedAlwaysAs(sql`tiergate_name_key(value)`),
    addedBy: uuid('added_by')
      .notNull()
      .references(() => users.id),
    addedAt: timestamp('added_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex('subject_identifiers_system_value_idx').on(t.agencyId, t.valueKey), index('subject_identifiers_subject_idx').on(t.subjectId)],
);

/**
 * "These two records are different people", said by whoever created the second one after seeing
 * the first as a candidate, with the reason. The pair (in id order) is never offered again as a
 * duplicate. Never updated or deleted (trigger and privileges in this table's migration).
 */
export const notDuplicateDecisions = pgTable(
  'not_duplicate_decisions',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    subjectLow: uuid('subject_low')
      .notNull()
      .references(() => subjects.id),
    subjectHigh: uuid('subject_high')
      .notNull()
      .references(() => subjects.id),
    reason: text('reason').notNull(),
    decidedBy: uuid('decided_by')
      .notNull()
      .references(() => users.id),
    decidedAt: timestamp('decided_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('not_duplicate_decisions_pair_idx').on(t.subjectLow, t.subjectHigh),
    index('not_duplicate_decisions_high_idx').on(t.subjectHigh),
    check('not_duplicate_decisions_order_check', sql`${t.subjectLow} < ${t.subjectHigh}`),
  ],
);

export const riskFlags = pgTable(
  'risk_flags',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    subjectId: uuid('subject_id')
      .notNull()
      .references(() => subjects.id),
    code: text('code').notNull(),
    severity: text('severity').notNull(),
    note: text('note'),
    agencyId: uuid('agency_id')
      .notNull()
      .references(() => agencies.id),
    createdBy: uuid('created_by')
      .notNull()
      .references(() => users.id),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('risk_flags_subject_idx').on(t.subjectId)],
);

export const clinicalEntries = pgTable(
  'clinical_entries',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    subjectId: uuid('subject_id')
      .notNull()
      .references(() => subjects.id),
    kind: text('kind').notNull(),
    tier: text('tier').notNull(),
    sensitivity: text('sensitivity')
      .array()
      .notNull()
      .default(sql`'{}'::text[]`),
    summary: text('summary').notNull(),
    content: jsonb('content').notNull().default({}),
    agencyId: uuid('agency_id')
      .notNull()
      .references(() => agencies.id),
    createdBy: uuid('created_by')
      .notNull()
      .references(() => users.id),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('clinical_entries_subject_idx').on(t.subjectId), check('clinical_entries_tier_check', sql`${t.tier} in ('intermediate', 'full')`)],
);

/** Consents are never deleted: revocation is recorded in place, and the row stays as evidence. */
export const consents = pgTable(
  'consents',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    subjectId: uuid('subject_id')
      .notNull()
      .references(() => subjects.id),
    recipients: jsonb('recipients').notNull(),
    // Resolved copies of `recipients`, so the policy context is filtered in SQL.
    recipientAgencyIds: uuid('recipient_agency_ids').array().notNull(),
    recipientKinds: text('recipient_kinds').array().notNull(),
    tiers: text('tiers').array().notNull(),
    sensitiveCategories: text('sensitive_categories').array().notNull(),
    purpose: text('purpose').notNull(),
    validFrom: timestamp('valid_from', { withTimezone: true }).notNull(),
    validUntil: timestamp('valid_until', { withTimezone: true }),
    evidence: jsonb('evidence').notNull(),
    agencyId: uuid('agency_id')
      .notNull()
      .references(() => agencies.id),
    recordedBy: uuid('recorded_by')
      .notNull()
      .references(() => users.id),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    revokedAt: timestamp('revoked_at', { withTimezone: true }),
    revokedBy: uuid('revoked_by').references(() => users.id),
    revocationReason: text('revocation_reason'),
  },
  (t) => [index('consents_subject_idx').on(t.subjectId)],
);

export const cases = pgTable(
  'cases',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    subjectId: uuid('subject_id')
      .notNull()
      .references(() => subjects.id),
    title: text('title').notNull(),
    status: text('status').notNull().default('open'),
    agencyId: uuid('agency_id')
      .notNull()
      .references(() => agencies.id),
    openedBy: uuid('opened_by')
      .notNull()
      .references(() => users.id),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    closedAt: timestamp('closed_at', { withTimezone: true }),
    closedBy: uuid('closed_by').references(() => users.id),
  },
  (t) => [index('cases_subject_idx').on(t.subjectId), check('cases_status_check', sql`${t.status} in ('open', 'closed')`)],
);

/**
 * The order in which members were added to and agencies joined case teams, from one sequence:
 * "on the team when that agency joined" (SPEC principle 8) is decided on it, not on timestamps,
 * which tie within a clock tick (PGlite's clock ticks in milliseconds). Null on rows from before
 * it existed; those fall back to the timestamps, strictly (a tie releases nothing).
 */
export const caseTeamOrder = pgSequence('case_team_order');
const teamOrder = () => bigint('team_order', { mode: 'number' }).default(sql`nextval('case_team_order')`);

/** Membership history: removal is recorded, so the log's case basis stays explainable later. */
export const caseMembers = pgTable(
  'case_members',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    caseId: uuid('case_id')
      .notNull()
      .references(() => cases.id),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id),
    addedBy: uuid('added_by')
      .notNull()
      .references(() => users.id),
    addedAt: timestamp('added_at', { withTimezone: true }).notNull().defaultNow(),
    teamOrder: teamOrder(),
    removedAt: timestamp('removed_at', { withTimezone: true }),
    removedBy: uuid('removed_by').references(() => users.id),
  },
  (t) => [
    uniqueIndex('case_members_current_idx')
      .on(t.caseId, t.userId)
      .where(sql`${t.removedAt} is null`),
  ],
);

/**
 * The agencies that brought their records into a case (SPEC principle 8): the opener's agency,
 * and any agency one of whose clinicians on the team joined the case from it. A participant's
 * full-tier entries reach the members on the team when it joined and those its own users add.
 * Rows are never changed or deleted (a trigger), so every past release stays explainable.
 */
export const caseParticipants = pgTable(
  'case_participants',
  {
    caseId: uuid('case_id')
      .notNull()
      .references(() => cases.id),
    agencyId: uuid('agency_id')
      .notNull()
      .references(() => agencies.id),
    joinedBy: uuid('joined_by')
      .notNull()
      .references(() => users.id),
    joinedAt: timestamp('joined_at', { withTimezone: true }).notNull().defaultNow(),
    teamOrder: teamOrder(),
  },
  (t) => [primaryKey({ columns: [t.caseId, t.agencyId] })],
);

export const breakGlassGrants = pgTable(
  'break_glass_grants',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    subjectId: uuid('subject_id')
      .notNull()
      .references(() => subjects.id),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id),
    agencyId: uuid('agency_id')
      .notNull()
      .references(() => agencies.id),
    tier: text('tier').notNull(),
    reason: text('reason').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
  },
  (t) => [index('break_glass_subject_user_idx').on(t.subjectId, t.userId)],
);
