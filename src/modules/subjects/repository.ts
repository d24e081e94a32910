import { and, asc, eq, inArray, or, sql, type SQL } from 'drizzle-orm';
import type { EntryGrant } from '../../authz/ability.js';
import { runStatement, type Executor, type Statement } from '../../db/client.js';
import { agencies, clinicalEntries, riskFlags, subjects } from '../../db/schema/index.js';

const basicColumns = {
  id: subjects.id,
  givenName: subjects.givenName,
  familyName: subjects.familyName,
  birthDate: subjects.birthDate,
  sex: subjects.sex,
};

export type BasicSubject = { id: string; givenName: string; familyName: string; birthDate: string; sex: string };

// The two lookups every person request makes, as named statements (planned once per connection).
const FIND_SUBJECT: Statement = {
  name: 'tiergate_find_subject',
  text: `SELECT id, given_name AS "givenName", family_name AS "familyName", birth_date::text AS "birthDate", sex FROM subjects WHERE id = $1::uuid LIMIT 1`,
};
const LIST_RISK_FLAGS: Statement = {
  name: 'tiergate_list_risk_flags',
  text: `SELECT f.id, f.code, f.severity, f.note, a.slug AS "contributedBy", f.created_at AS "createdAt"
           FROM risk_flags f JOIN agencies a ON a.id = f.agency_id
          WHERE f.subject_id = $1::uuid ORDER BY f.created_at, f.id`,
};

export async function findSubject(db: Executor, id: string): Promise<BasicSubject | undefined> {
  const [row] = await runStatement<BasicSubject>(db, FIND_SUBJECT, [id]);
  return row;
}

/** Family name or "given family", case-insensitive, and the exact date of birth. */
export async function searchSubjects(db: Executor, name: string, dob: string, limit: number): Promise<BasicSubject[]> {
  const n = name.toLowerCase();
  return db
    .select(basicColumns)
    .from(subjects)
    .where(
      and(
        eq(subjects.birthDate, dob),
        or(sql`lower(${subjects.familyName}) = ${n}`, sql`lower(${subjects.givenName} || ' ' || ${subjects.familyName}) = ${n}`),
      ),
    )
    .orderBy(asc(subjects.familyName), asc(subjects.givenName), asc(subjects.id))
    .limit(limit);
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

export async function listRiskFlags(db: Executor, subjectId: string) {
  return runStatement<{ id: string; code: string; severity: string; note: string | null; contributedBy: string; createdAt: Date }>(db, LIST_RISK_FLAGS, [
    subjectId,
  ]);
}

export async function insertRiskFlag(
  db: Executor,
  values: { subjectId: string; code: string; severity: string; note: string | null; agencyId: string; createdBy: string },
) {
  const [row] = await db.insert(riskFlags).values(values).returning({ id: riskFlags.id, createdAt: riskFlags.createdAt });
  return row!;
}

const textArray = (values: readonly string[]) =>
  values.length
    ? sql`ARRAY[${sql.join(
        values.map((v) => sql`${v}`),
        sql`, `,
      )}]::text[]`
    : sql`'{}'::text[]`;

/** One grant as SQL: its agencies or author, its tiers, labels all among its categories. */
function grantCondition(g: EntryGrant): SQL | undefined {
  return and(
    inArray(clinicalEntries.tier, g.tiers),
    g.agencyIds ? inArray(clinicalEntries.agencyId, g.agencyIds) : undefined,
    g.authorUserId ? eq(clinicalEntries.createdBy, g.authorUserId) : undefined,
    sql`${clinicalEntries.sensitivity} <@ ${textArray(g.categories)}`,
  );
}

/**
 * The person's entries that some grant releases, filtered in SQL (the decision point re-checks
 * each row). No grant, no query.
 */
export async function listVisibleEntries(db: Executor, subjectId: string, grants: EntryGrant[]) {
  if (grants.length === 0) return [];
  return db
    .select({
      id: clinicalEntries.id,
      kind: clinicalEntries.kind,
      tier: clinicalEntries.tier,
      sensitivity: clinicalEntries.sensitivity,
      summary: clinicalEntries.summary,
      content: clinicalEntries.content,
      agencyId: clinicalEntries.agencyId,
      authorUserId: clinicalEntries.createdBy,
      contributedBy: agencies.slug,
      createdAt: clinicalEntries.createdAt,
    })
    .from(clinicalEntries)
    .innerJoin(agencies, eq(agencies.id, clinicalEntries.agencyId))
    .where(and(eq(clinicalEntries.subjectId, subjectId), or(...grants.map(grantCondition))))
    .orderBy(asc(clinicalEntries.createdAt), asc(clinicalEntries.id));
}

export async function insertEntry(
  db: Executor,
  values: { subjectId: string; kind: string; tier: string; sensitivity: string[]; summary: string; content: unknown; agencyId: string; createdBy: string },
) {
  const [row] = await db.insert(clinicalEntries).values(values).returning({ id: clinicalEntries.id, createdAt: clinicalEntries.createdAt });
  return row!;
}
