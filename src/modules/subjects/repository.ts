import type { EntryGrant } from '../../authz/ability.js';
import { runStatement, type Executor, type Statement } from '../../db/client.js';
import { clinicalEntries, riskFlags, subjects } from '../../db/schema/index.js';
import type { Principal } from '../../auth/principal.js';
import { CONTEXT_COLUMNS, contextFromColumns, contextParams, type ContextColumns } from '../../authz/context.js';

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
const FLAG_COLUMNS = `f.id AS "flagId", f.code, f.severity, f.note, fa.slug AS "contributedBy", f.created_at AS "createdAt"`;
// The person and their risk flags as rows (none when the person is unknown, one with null flag
// columns when they have no flag).
const SUBJECT_WITH_FLAGS = `FROM subjects s
  LEFT JOIN risk_flags f ON f.subject_id = s.id
  LEFT JOIN agencies fa ON fa.id = f.agency_id
 WHERE s.id = $1::uuid
 ORDER BY f.created_at, f.id`;

const FIND_SUBJECT: Statement = {
  name: 'tiergate_find_subject',
  text: `SELECT ${SUBJECT_COLUMNS} FROM subjects s WHERE s.id = $1::uuid LIMIT 1`,
};
const FIND_SUBJECT_FLAGS: Statement = { name: 'tiergate_find_subject_flags', text: `SELECT ${SUBJECT_COLUMNS}, ${FLAG_COLUMNS} ${SUBJECT_WITH_FLAGS}` };
const FIND_SUBJECT_RECORD: Statement = {
  name: 'tiergate_find_subject_record',
  text: `SELECT ${SUBJECT_COLUMNS}, ${FLAG_COLUMNS}, ${CONTEXT_COLUMNS} ${SUBJECT_WITH_FLAGS}`,
};
const SEARCH_SUBJECTS: Statement = {
  name: 'tiergate_search_subjects',
  text: `SELECT ${SUBJECT_COLUMNS} FROM subjects s
          WHERE s.birth_date = $2::date AND (lower(s.family_name) = $1 OR lower(s.given_name || ' ' || s.family_name) = $1)
          ORDER BY s.family_name, s.given_name, s.id LIMIT $3`,
};
// The SQL filter of the entry grants: one JSON element per grant (EntryGrant's fields), so the
// text never changes with the grants and the statement is planned once.
const LIST_VISIBLE_ENTRIES: Statement = {
  name: 'tiergate_list_visible_entries',
  text: `SELECT e.id, e.kind, e.tier, e.sensitivity, e.summary, e.content, e.agency_id AS "agencyId", e.created_by AS "authorUserId",
                a.slug AS "contributedBy", e.created_at AS "createdAt"
           FROM clinical_entries e JOIN agencies a ON a.id = e.agency_id
          WHERE e.subject_id = $1::uuid
            AND EXISTS (SELECT 1 FROM jsonb_to_recordset($2::jsonb) AS g(tiers text[], "agencyIds" uuid[], "authorUserId" uuid, categories text[])
                         WHERE e.tier = ANY (g.tiers)
                           AND (g."agencyIds" IS NULL OR e.agency_id = ANY (g."agencyIds"))
                           AND (g."authorUserId" IS NULL OR e.created_by = g."authorUserId")
                           AND e.sensitivity <@ coalesce(g.categories, '{}'))
          ORDER BY e.created_at, e.id`,
};

export type RiskFlag = { id: string; code: string; severity: string; note: string | null; contributedBy: string; createdAt: Date };
type FlagColumns = { flagId: string | null; code: string; severity: string; note: string | null; contributedBy: string; createdAt: Date };
type SubjectRow = BasicSubject & FlagColumns;

function subjectAndFlags<R extends SubjectRow>(rows: R[]): { subject: BasicSubject; riskFlags: RiskFlag[]; first: R } | undefined {
  const first = rows[0];
  if (!first) return undefined;
  const { id, givenName, familyName, birthDate, sex } = first;
  const riskFlags = rows
    .filter((r) => r.flagId !== null)
    .map((r) => ({ id: r.flagId!, code: r.code, severity: r.severity, note: r.note, contributedBy: r.contributedBy, createdAt: r.createdAt }));
  return { subject: { id, givenName, familyName, birthDate, sex }, riskFlags, first };
}

/** The person and their risk flags in one statement; undefined for an unknown person. */
export async function findSubjectWithFlags(db: Executor, id: string) {
  return subjectAndFlags(await runStatement<SubjectRow>(db, FIND_SUBJECT_FLAGS, [id]));
}

/** The person, their risk flags and the policy's context for `principal`, in one statement. */
export async function findSubjectRecord(db: Executor, principal: Principal, id: string, now = new Date()) {
  const found = subjectAndFlags(await runStatement<SubjectRow & ContextColumns>(db, FIND_SUBJECT_RECORD, [id, ...contextParams(principal, now)]));
  return found && { subject: found.subject, riskFlags: found.riskFlags, context: contextFromColumns(id, found.first) };
}

export async function findSubject(db: Executor, id: string): Promise<BasicSubject | undefined> {
  const [row] = await runStatement<BasicSubject>(db, FIND_SUBJECT, [id]);
  return row;
}

/** Family name or "given family", case-insensitive, and the exact date of birth. */
export async function searchSubjects(db: Executor, name: string, dob: string, limit: number): Promise<BasicSubject[]> {
  return runStatement<BasicSubject>(db, SEARCH_SUBJECTS, [name.toLowerCase(), dob, limit]);
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

export interface VisibleEntry {
  id: string;
  kind: string;
  tier: string;
  sensitivity: string[];
  summary: string;
  content: unknown;
  agencyId: string;
  authorUserId: string;
  contributedBy: string;
  createdAt: Date;
}

/**
 * The person's entries that some grant releases, filtered in SQL (the decision point re-checks
 * each row). No grant, no query.
 */
export async function listVisibleEntries(db: Executor, subjectId: string, grants: EntryGrant[]): Promise<VisibleEntry[]> {
  if (grants.length === 0) return [];
  const filter = grants.map(({ tiers, agencyIds, authorUserId, categories }) => ({ tiers, agencyIds, authorUserId, categories }));
  return runStatement<VisibleEntry>(db, LIST_VISIBLE_ENTRIES, [subjectId, JSON.stringify(filter)]);
}

export async function insertEntry(
  db: Executor,
  values: { subjectId: string; kind: string; tier: string; sensitivity: string[]; summary: string; content: unknown; agencyId: string; createdBy: string },
) {
  const [row] = await db.insert(clinicalEntries).values(values).returning({ id: clinicalEntries.id, createdAt: clinicalEntries.createdAt });
  return row!;
}
