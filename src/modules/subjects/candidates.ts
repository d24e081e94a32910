import { loggedRead } from '../../audit/append.js';
import type { DisclosingRead } from '../../audit/audited.js';
import { runStatement, type Executor, type Statement } from '../../db/client.js';
import { birthDateVariants, givenNameEquivalents, nameKey, parseBirthDate, type MatchPolicy } from '../../matching/index.js';

// The SQL side of the matcher (SPEC "One person, one record"): blocking finds the few people who
// could be the one described, src/matching scores them. Nothing read here leaves the gateway but
// through SHOWN, which is read with the request's log entry naming every person shown.

export interface Identifier {
  system: string;
  value: string;
}
/** A person as the matcher compares them: basic facts and the identifiers the caller may see. */
export interface Candidate {
  id: string;
  givenName: string;
  familyName: string;
  birthDate: string;
  sex: string;
  identifiers: Identifier[];
}
/** A person in a list of candidates or results, with what tells look-alikes apart. */
export interface ShownPerson extends Candidate {
  /** The agency that added the person. */
  addedBy: string;
  /** The agencies that added the person or a risk flag (basic-tier facts). */
  contributingAgencies: string[];
  riskFlagCount: number;
}

// The identifiers of person `s` that the caller's agency ($n) may see: an identifier issued by a
// 42 CFR Part 2 program is shown only inside that program (2.13(c): even that the person is its
// patient is Part 2 information).
export const visibleIdentifiers = (agency: string) => `
  (SELECT coalesce(json_agg(json_build_object('system', ia.slug, 'value', i.value) ORDER BY ia.slug, i.value), '[]')
     FROM subject_identifiers i JOIN agencies ia ON ia.id = i.agency_id
    WHERE i.subject_id = s.id AND (NOT ia.part2_program OR ia.id = ${agency})) AS identifiers`;
const FACTS = `s.id, s.given_name AS "givenName", s.family_name AS "familyName", s.birth_date::text AS "birthDate", s.sex`;

// How far a name key may be from one of the query's and still enter the block: trigram
// similarity catches most slips, Levenshtein the short names trigrams miss (ada/adq). The
// matcher, not this, decides; this only has to keep everyone the matcher could grade.
const NEAR = 0.3;
const nameNear = (column: string) => `similarity(${column}, k) >= ${NEAR} OR levenshtein_less_equal(${column}, k, 1) <= 1`;
/**
 * The block, in two tiers that the blocking index (birth_date, family_key, given_key, id) serves
 * both: people born on a close variant of the date (`$n`: itself, day and month swapped, the
 * year either side) whose given or family name key is near one of the query's name keys ($n+1,
 * in either place, so swapped names enter) or is a short or full form of the given name ($n+2);
 * and people born on a date one digit off ($n+4) whose family or given name key is one of those
 * exactly, which the index answers without reading a row. A date one digit off and a name one
 * letter off at once is left out: at 1,000,000 people the loose name filter over all ~55 digit
 * variants read a thousand rows a search (bench/search-million.ts). At most $n+3 people, with the
 * identifiers the caller's agency (`agency`) may see. Parameters: `blockParams`.
 */
const blockSelect = (n: number, agency: string) => {
  const $ = (i: number) => `$${n + i}`;
  return `SELECT ${FACTS}, ${visibleIdentifiers(agency)}
            FROM subjects s
           WHERE (s.birth_date = ANY (${$(0)}::date[])
                  AND (s.given_key = ANY (${$(2)}::text[])
                       OR EXISTS (SELECT 1 FROM unnest(${$(1)}::text[]) AS k WHERE ${nameNear('s.family_key')} OR ${nameNear('s.given_key')})))
              OR (s.birth_date = ANY (${$(4)}::date[]) AND s.family_key = ANY (${$(1)}::text[]))
              OR (s.birth_date = ANY (${$(4)}::date[]) AND s.given_key = ANY (${$(1)}::text[] || ${$(2)}::text[]))
           LIMIT ${$(3)}`;
};
/** Whoever holds one of the identifiers ($1, JSON {system, value}) that the caller's agency ($2) may see. */
const IDENTIFIED: Statement = {
  name: 'tiergate_match_identified',
  text: `SELECT ${FACTS}, ${visibleIdentifiers('$2::uuid')}
           FROM subjects s
          WHERE s.id IN (SELECT i.subject_id
                           FROM jsonb_to_recordset($1::jsonb) AS q(system text, value text)
                           JOIN agencies ia ON ia.slug = q.system AND (NOT ia.part2_program OR ia.id = $2::uuid)
                           JOIN subject_identifiers i ON i.agency_id = ia.id AND i.value_key = tiergate_name_key(q.value))`,
};
const BLOCK: Statement = { name: 'tiergate_match_block', text: blockSelect(1, '$6::uuid') };
/** The blocking SELECT with `blockParams` and the caller's agency as $1..$6 (for bench/search-million.ts's EXPLAIN). */
export const BLOCK_TEXT = BLOCK.text;

/** Whoever holds identifier ($1 system, $2 value), when the caller's agency ($3) may see it. */
const BY_IDENTIFIER: Statement = {
  name: 'tiergate_match_identifier',
  text: `SELECT ${FACTS}, ${visibleIdentifiers('$3::uuid')}
           FROM agencies ia
           JOIN subject_identifiers i ON i.agency_id = ia.id AND i.value_key = tiergate_name_key($2)
           JOIN subjects s ON s.id = i.subject_id
          WHERE ia.slug = $1 AND (NOT ia.part2_program OR ia.id = $3::uuid)`,
};
/**
 * The people shown ($1, in that order) with what tells them apart, read with the request's log
 * entry (which names them: the caller's facts give `matches`). Agencies that are Part 2 programs
 * are named only to themselves ($2, the caller's agency).
 */
const SHOWN = loggedRead(
  'tiergate_match_shown',
  `SELECT ${FACTS}, ${visibleIdentifiers('$2::uuid')}, a.slug AS "addedBy",
          (SELECT count(*)::int FROM risk_flags f WHERE f.subject_id = s.id) AS "riskFlagCount",
          (SELECT coalesce(json_agg(c.slug ORDER BY c.slug), '[]')
             FROM agencies c
            WHERE (c.id = s.agency_id OR c.id IN (SELECT f.agency_id FROM risk_flags f WHERE f.subject_id = s.id))
              AND (NOT c.part2_program OR c.id = $2::uuid)) AS "contributingAgencies"
     FROM unnest($1::uuid[]) WITH ORDINALITY AS shown(id, n)
     JOIN subjects s ON s.id = shown.id
     JOIN agencies a ON a.id = s.agency_id
    ORDER BY shown.n`,
  2,
  { always: true },
);

/** The earliest birth date a record may have (createSubjectBody). */
const EARLIEST_BIRTH_DATE = '1900-01-01';

/** Most people a block may hold; a block this full means the query says too little to match on. */
const BLOCK_LIMIT = 500;

/** The name keys a query brings to the block: each word, and all of them as one. */
function queryKeys(names: string[]): string[] {
  const words = names.flatMap((n) => n.split(/[\s,]+/)).map(nameKey);
  return [...new Set([...words, ...names.map(nameKey)].filter((k) => k.length > 0))];
}

export interface BlockQuery {
  /** The names to match, given and family in any order (a search may give only one). */
  names: string[];
  /** Given names whose short and full forms count (Bill for William). */
  givenNames: string[];
  birthDate: string;
  identifiers?: Identifier[];
}

/** The date itself, day and month swapped, and the year either side (those that are dates). */
function closeVariants(birthDate: string): string[] {
  const d = parseBirthDate(birthDate);
  if (!d) return [];
  const iso = (y: number, m: number, day: number) => `${String(y).padStart(4, '0')}-${String(m).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
  return [iso(d.year, d.month, d.day), iso(d.year, d.day, d.month), iso(d.year - 1, d.month, d.day), iso(d.year + 1, d.month, d.day)].filter(
    (v) => parseBirthDate(v) !== null,
  );
}

/** BLOCK's parameters for a query (but the caller's agency). */
export function blockParams(query: BlockQuery, policy: MatchPolicy): unknown[] {
  const equivalents = [...new Set(query.givenNames.flatMap((g) => [nameKey(g), ...givenNameEquivalents(g, policy)]))].filter((k) => k.length > 0);
  // Only dates a person can have been recorded with (schemas.ts: 1900 to today): one digit off in
  // the century gives 0975 or 2975, which no record holds and which cost the block index probes.
  const today = new Date().toISOString().slice(0, 10);
  const dates = birthDateVariants(query.birthDate).filter((d) => d >= EARLIEST_BIRTH_DATE && d <= today);
  const close = new Set(closeVariants(query.birthDate));
  return [dates.filter((d) => close.has(d)), queryKeys(query.names), equivalents, BLOCK_LIMIT, dates.filter((d) => !close.has(d))];
}

/** A search's block query: the name read every way (given, family, both), with the date of birth. */
export const searchBlockQuery = (name: string, dob: string): BlockQuery => ({ names: [name], givenNames: name.split(/[\s,]+/), birthDate: dob });

/**
 * The people who could be the one described (see BLOCK), and those holding one of its
 * identifiers, with the identifiers `agencyId` may see. One after the other: a transaction is one
 * connection.
 */
export async function blockCandidates(db: Executor, agencyId: string, query: BlockQuery, policy: MatchPolicy): Promise<Candidate[]> {
  const named = await runStatement<Candidate>(db, BLOCK, [...blockParams(query, policy), agencyId]);
  if (!query.identifiers?.length) return named;
  const identified = await runStatement<Candidate>(db, IDENTIFIED, [JSON.stringify(query.identifiers), agencyId]);
  return [...named, ...identified.filter((c) => !named.some((n) => n.id === c.id))];
}

/** The person who holds an identifier, if `agencyId` may see it. */
export async function findByIdentifier(db: Executor, agencyId: string, identifier: Identifier): Promise<Candidate[]> {
  return runStatement<Candidate>(db, BY_IDENTIFIER, [identifier.system, identifier.value, agencyId]);
}

/** The people `ids` as shown, in that order, to read with the request's entry (which names them). */
export function shown(agencyId: string, ids: string[]): DisclosingRead<ShownPerson[]> {
  return { read: SHOWN, values: [ids, agencyId], shape: (rows: ShownPerson[]) => rows };
}

// Creations that could be the same person are serialised on advisory locks, one per birth year:
// a creation holds the locks of its year and the years either side (taken in order, so two never
// deadlock). Two partners creating the same person at once then check one after the other, and
// the second sees the first's record (READ COMMITTED: its check starts after the first commits)
// when the dates differ by anything the lock covers: the same date, day and month swapped, any
// slip in the month or day, the year off by one. Not covered: a slip in the year's other digits
// (1985 typed 1955) made at the very same moment; the later creation is checked against the
// earlier one as soon as it has committed, so only simultaneous pairs can slip through.
// The cost: creations of people born within a year of each other wait for each other's short
// transaction; searches and reads never take these locks.
const CREATE_LOCK_CLASS = 0x7467_6d31; // 'tgm1': tiergate matching, first use
const LOCK_YEARS: Statement = {
  name: 'tiergate_match_lock_years',
  text: `SELECT count(pg_advisory_xact_lock(${CREATE_LOCK_CLASS}, y)) FROM (SELECT y FROM unnest($1::int[]) AS y ORDER BY y) AS years`,
};

/** Takes the creation locks for a person born on `birthDate` (see above), until the transaction ends. */
export async function lockCreationsLike(tx: Executor, birthDate: string): Promise<void> {
  const date = parseBirthDate(birthDate);
  if (!date) return;
  await runStatement(tx, LOCK_YEARS, [[date.year - 1, date.year, date.year + 1]]);
}

const RECORD_PAIRS: Statement = {
  name: 'tiergate_record_not_duplicate',
  text: `INSERT INTO not_duplicate_decisions (subject_low, subject_high, reason, decided_by)
         SELECT least($1::uuid, other), greatest($1::uuid, other), $3, $4::uuid FROM unnest($2::uuid[]) AS other
         ON CONFLICT (subject_low, subject_high) DO NOTHING
         RETURNING id`,
};

/** Remembers that `subjectId` is not the same person as each of `others`; the ids of the decisions written. */
export async function rememberNotDuplicates(tx: Executor, subjectId: string, others: string[], reason: string, userId: string): Promise<string[]> {
  if (others.length === 0) return [];
  const rows = await runStatement<{ id: string }>(tx, RECORD_PAIRS, [subjectId, others, reason, userId]);
  return rows.map((r) => r.id);
}
