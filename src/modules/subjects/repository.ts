import { releaseFilterParam, releaseFilterSql, type EntryGrant } from '../../authz/release.js';
import { runStatement, type Executor, type Statement } from '../../db/client.js';
import { clinicalEntries, riskFlags, subjects } from '../../db/schema/index.js';
import { loggedRead } from '../../audit/append.js';
import type { DisclosingRead } from '../../audit/audited.js';
import type { EntryFactsRow } from './record-context.js';
import { visibleIdentifiers, type Identifier } from './candidates.js';

const basicColumns = {
  id: subjects.id,
  givenName: subjects.givenName,
  familyName: subjects.familyName,
  birthDate: subjects.birthDate,
  sex: subjects.sex,
};

export type BasicSubject = { id: string; givenName: string; familyName: string; birthDate: string; sex: string };

// Every person request's lookups are named statements: parsed and planned once per connection,
// and one round trip each.
const SUBJECT_COLUMNS = `s.id, s.given_name AS "givenName", s.family_name AS "familyName", s.birth_date::text AS "birthDate", s.sex`;
// A person's risk flags as one JSON column, oldest first.
const FLAGS_JSON = `(SELECT coalesce(json_agg(json_build_object('id', f.id, 'code', f.code, 'severity', f.severity, 'note', f.note,
                                             'contributedBy', fa.slug, 'createdAt', f.created_at) ORDER BY f.created_at, f.id), '[]')
                       FROM risk_flags f LEFT JOIN agencies fa ON fa.id = f.agency_id
                      WHERE f.subject_id = s.id) AS "riskFlags"`;
const FIND_SUBJECT: Statement = {
  name: 'tiergate_find_subject',
  text: `SELECT ${SUBJECT_COLUMNS} FROM subjects s WHERE s.id = $1::uuid LIMIT 1`,
};
// The person and their flags: the data of a risk-flag lookup, read with its log entry.
const SUBJECT_FLAGS = loggedRead('tiergate_subject_flags', `SELECT ${SUBJECT_COLUMNS}, ${FLAGS_JSON} FROM subjects s WHERE s.id = $1::uuid`, 1);
// The facts of the entries some grant releases, for a long record (see record-context.ts).
const ENTRY_FACTS: Statement = {
  name: 'tiergate_entry_facts',
  text: `SELECT e.id, e.kind, e.tier, e.sensitivity, e.agency_id AS "agencyId", e.created_by AS "authorUserId"
           FROM clinical_entries e
          WHERE e.subject_id = $1::uuid AND ${releaseFilterSql('e', '$2')}
          ORDER BY e.created_at, e.id`,
};
// The record's data: the person, their flags and the entries the policy let through (by id, and
// the grants' filter again), read with the log entry that names those entries.
const RECORD = loggedRead(
  'tiergate_record',
  `SELECT ${SUBJECT_COLUMNS}, ${FLAGS_JSON},
          (SELECT coalesce(json_agg(json_build_object('id', e.id, 'kind', e.kind, 'tier', e.tier, 'sensitivity', e.sensitivity, 'summary', e.summary,
                                                      'content', e.content, 'contributedBy', a.slug, 'createdAt', e.created_at)
                                    ORDER BY e.created_at, e.id), '[]')
             FROM clinical_entries e JOIN agencies a ON a.id = e.agency_id
            WHERE e.subject_id = s.id AND e.id = ANY ($2::uuid[]) AND ${releaseFilterSql('e', '$3')}) AS entries,
          ${visibleIdentifiers('$4::uuid')}
     FROM subjects s WHERE s.id = $1::uuid`,
  4,
);
export type RiskFlag = { id: string; code: string; severity: string; note: string | null; contributedBy: string; createdAt: Date };
type Dated<T> = Omit<T, 'createdAt'> & { createdAt: string };
const dated = <T extends { createdAt: string }>(row: T) => ({ ...row, createdAt: new Date(row.createdAt) });

/** The person and their risk flags, to read with the request's entry; undefined for an unknown person. */
export function subjectWithFlags(id: string) {
  return {
    read: SUBJECT_FLAGS,
    values: [id],
    shape([row]: (BasicSubject & { riskFlags: Dated<RiskFlag>[] })[]) {
      if (!row) return undefined;
      const { riskFlags: flags, ...subject } = row;
      return { subject, riskFlags: flags.map(dated) };
    },
  } satisfies DisclosingRead<unknown>;
}

/** The facts of the person's entries that some grant releases (the decision point checks each). No grant, no query. */
export async function listEntryFacts(db: Executor, subjectId: string, grants: EntryGrant[]): Promise<EntryFactsRow[]> {
  if (grants.length === 0) return [];
  return runStatement<EntryFactsRow>(db, ENTRY_FACTS, [subjectId, releaseFilterParam(grants)]);
}

export interface RecordEntry {
  id: string;
  kind: string;
  tier: string;
  sensitivity: string[];
  summary: string;
  /** A JSON object: entries are created only with an object (createEntryBody). */
  content: Record<string, unknown>;
  contributedBy: string;
  createdAt: Date;
}

type RecordRow = BasicSubject & { identifiers: Identifier[]; riskFlags: Dated<RiskFlag>[]; entries: Dated<RecordEntry>[] };

/**
 * The person (with the identifiers `agencyId` may see), their flags and the entries `entryIds`
 * (those the grants release), to read with the request's entry; undefined for an unknown person.
 */
export function record(id: string, entryIds: string[], grants: EntryGrant[], agencyId: string) {
  return {
    read: RECORD,
    values: [id, entryIds, releaseFilterParam(grants), agencyId],
    shape([row]: RecordRow[]) {
      if (!row) return undefined;
      const { riskFlags: flags, entries, ...subject } = row;
      return { subject, riskFlags: flags.map(dated), entries: entries.map(dated) };
    },
  } satisfies DisclosingRead<unknown>;
}

export async function findSubject(db: Executor, id: string): Promise<BasicSubject | undefined> {
  const [row] = await runStatement<BasicSubject>(db, FIND_SUBJECT, [id]);
  return row;
}

// An identifier, unless its (system, folded value) is taken: then the row that holds it, so the
// caller can tell "already this person's" from "another person's" in one round trip.
const INSERT_IDENTIFIER: Statement = {
  name: 'tiergate_insert_identifier',
  text: `WITH added AS (
           INSERT INTO subject_identifiers (subject_id, agency_id, value, added_by) VALUES ($1::uuid, $2::uuid, $3, $4::uuid)
           ON CONFLICT (agency_id, value_key) DO NOTHING RETURNING id, subject_id)
         SELECT id, subject_id AS "subjectId", true AS created FROM added
         UNION ALL
         SELECT id, subject_id, false FROM subject_identifiers
          WHERE agency_id = $2::uuid AND value_key = tiergate_name_key($3) AND NOT EXISTS (SELECT 1 FROM added)`,
};

/** Adds an identifier; the row that holds it (`created` false when it was there already), or undefined when a concurrent insert holds it. */
export async function insertIdentifier(db: Executor, values: { subjectId: string; agencyId: string; value: string; addedBy: string }) {
  const [row] = await runStatement<{ id: string; subjectId: string; created: boolean }>(db, INSERT_IDENTIFIER, [
    values.subjectId,
    values.agencyId,
    values.value,
    values.addedBy,
  ]);
  return row;
}

export async function insertSubject(
  db: Executor,
  values: Omit<BasicSubject, 'id'> & { agencyId: string; createdBy: string },
): Promise<BasicSubject & { createdAt: Date }> {
  const [row] = await db
    .insert(subjects)
    .values(values)
    .returning({ ...basicColumns, createdAt: subjects.createdAt });
  return row!;
}

export async function insertRiskFlag(
  db: Executor,
  values: { subjectId: string; code: string; severity: string; note: string | null; agencyId: string; createdBy: string },
) {
  const [row] = await db.insert(riskFlags).values(values).returning({ id: riskFlags.id, createdAt: riskFlags.createdAt });
  return row!;
}

export async function insertEntry(
  db: Executor,
  values: { subjectId: string; kind: string; tier: string; sensitivity: string[]; summary: string; content: unknown; agencyId: string; createdBy: string },
) {
  const [row] = await db.insert(clinicalEntries).values(values).returning({ id: clinicalEntries.id, createdAt: clinicalEntries.createdAt });
  return row!;
}
