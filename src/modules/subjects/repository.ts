import { releaseFilterParam, releaseFilterSql, type EntryGrant } from '../../authz/release.js';
import { runStatement, type Executor, type Statement } from '../../db/client.js';
import { clinicalEntries, riskFlags, subjects } from '../../db/schema/index.js';
import { loggedRead } from '../../audit/append.js';
import type { ReadScope } from '../../audit/audited.js';
import type { EntryFactsRow } from './record-context.js';

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
            WHERE e.subject_id = s.id AND e.id = ANY ($2::uuid[]) AND ${releaseFilterSql('e', '$3')}) AS entries
     FROM subjects s WHERE s.id = $1::uuid`,
  3,
);
// A search, read with its log entry, which names the people shown: all but the extra row that
// only says the list was cut ($3 is one more than is shown), in the order they are shown.
const SEARCH_SUBJECTS = loggedRead(
  'tiergate_search_subjects',
  `SELECT ${SUBJECT_COLUMNS} FROM subjects s
    WHERE s.birth_date = $2::date AND (lower(s.family_name) = $1 OR lower(s.given_name || ' ' || s.family_name) = $1)
    ORDER BY s.family_name, s.given_name, s.id LIMIT $3`,
  3,
  {
    always: true,
    detail: `jsonb_build_object('matches', coalesce((SELECT jsonb_agg(m.id ORDER BY m.n)
                                                    FROM (SELECT r.id, row_number() OVER (ORDER BY r."familyName", r."givenName", r.id) AS n FROM r) m
                                                   WHERE m.n < $3), '[]'::jsonb))
             || CASE WHEN (SELECT count(*) FROM r) >= $3 THEN '{"truncated": true}'::jsonb ELSE '{}'::jsonb END`,
  },
);

export type RiskFlag = { id: string; code: string; severity: string; note: string | null; contributedBy: string; createdAt: Date };
type Dated<T> = Omit<T, 'createdAt'> & { createdAt: string };
const dated = <T extends { createdAt: string }>(row: T) => ({ ...row, createdAt: new Date(row.createdAt) });

/** The person and their risk flags, read with the request's entry; undefined for an unknown person. */
export async function readSubjectWithFlags(read: ReadScope['read'], id: string) {
  const [row] = await read<BasicSubject & { riskFlags: Dated<RiskFlag>[] }>(SUBJECT_FLAGS, [id]);
  if (!row) return undefined;
  const { riskFlags: flags, ...subject } = row;
  return { subject, riskFlags: flags.map(dated) };
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
  content: unknown;
  contributedBy: string;
  createdAt: Date;
}

/** The person, their flags and the entries `entryIds` (those the grants release), read with the request's entry. */
export async function readRecord(read: ReadScope['read'], id: string, entryIds: string[], grants: EntryGrant[]) {
  const [row] = await read<BasicSubject & { riskFlags: Dated<RiskFlag>[]; entries: Dated<RecordEntry>[] }>(RECORD, [id, entryIds, releaseFilterParam(grants)]);
  if (!row) return undefined;
  const { riskFlags: flags, entries, ...subject } = row;
  return { subject, riskFlags: flags.map(dated), entries: entries.map(dated) };
}

export async function findSubject(db: Executor, id: string): Promise<BasicSubject | undefined> {
  const [row] = await runStatement<BasicSubject>(db, FIND_SUBJECT, [id]);
  return row;
}

/**
 * Family name or "given family", case-insensitive, and the exact date of birth; at most `limit`
 * people, read with the request's entry (which names all but the last of a full list).
 */
export async function searchSubjects(read: ReadScope['read'], name: string, dob: string, limit: number): Promise<BasicSubject[]> {
  return read<BasicSubject>(SEARCH_SUBJECTS, [name.toLowerCase(), dob, limit]);
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
