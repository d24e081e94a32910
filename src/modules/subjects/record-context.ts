import type { Principal } from '../../auth/principal.js';
import { PRINCIPAL_SELECT, principalOf, principalParams, type PrincipalRow } from '../../auth/principals.js';
import type { AccessTokenClaims } from '../../auth/tokens.js';
import { contextColumns, contextFromColumns, type ContextColumns, type SubjectContext } from '../../authz/context.js';
import type { EntryFacts } from '../../authz/release.js';
import { runStatement, type Executor, type Statement } from '../../db/client.js';

// What decides a record read, before anything of the person leaves: whether the person is known,
// the policy's context for this principal, and the facts of the person's entries. Both statements
// here are named: parsed and planned once per connection, one round trip each.

/** What the decision point needs of an entry, and what its log entry names. */
export type EntryFactsRow = EntryFacts & { id: string; kind: string };

/** A record's context: the policy's context and its entries' facts (undefined for a long record: see `listEntryFacts`). */
export interface RecordContext {
  context: SubjectContext;
  entries: EntryFactsRow[] | undefined;
}

// The facts of each of the person's entries, oldest first: no content, nothing that leaves. The
// decision point, not SQL, picks which entries are carried. A person with more than
// FACTS_WITH_CONTEXT entries gets null here: for a long record, reading and checking the facts of
// entries no grant releases costs more than the round trip of the grants' own query
// (`listEntryFacts`, after the decision).
const FACTS_WITH_CONTEXT = 64;
const entryFactsColumn = (subject: string) => `
  (SELECT CASE WHEN (SELECT count(*) FROM clinical_entries counted WHERE counted.subject_id = ${subject}) <= ${FACTS_WITH_CONTEXT} THEN
     (SELECT coalesce(json_agg(json_build_object('id', e.id, 'kind', e.kind, 'tier', e.tier, 'sensitivity', e.sensitivity,
                                                 'agencyId', e.agency_id, 'authorUserId', e.created_by) ORDER BY e.created_at, e.id), '[]')
        FROM clinical_entries e WHERE e.subject_id = ${subject}) END) AS "entryFacts"`;

type RecordContextRow = ContextColumns & { entryFacts: EntryFactsRow[] | null };

const recordContextOf = (subjectId: string, row: RecordContextRow): RecordContext => ({
  context: contextFromColumns(subjectId, row),
  entries: row.entryFacts ?? undefined,
});

// The record's context for a principal already known: $1 person, $2 user, $3 agency, $4 agency kind, $5 now.
const RECORD_CONTEXT: Statement = {
  name: 'tiergate_record_context',
  text: `SELECT ${contextColumns({ subject: '$1::uuid', user: '$2::uuid', agency: '$3::uuid', kind: '$4::text', now: '$5::timestamptz' })},
                ${entryFactsColumn('s.id')}
           FROM subjects s WHERE s.id = $1::uuid`,
};

/** The record's context for `principal` at `now` (a read in its own round trip: the console's); undefined for an unknown person. */
export async function findRecordContext(db: Executor, principal: Principal, subjectId: string, now: Date): Promise<RecordContext | undefined> {
  const params = [subjectId, principal.userId, principal.agencyId, principal.agencyKind, now.toISOString()];
  const [row] = await runStatement<RecordContextRow>(db, RECORD_CONTEXT, params);
  return row && recordContextOf(subjectId, row);
}

// The principal's own statement whole (its $1 to $3, by its output columns), and the record's
// context over it: $4 person, $5 now. No row: no such user.
const PRINCIPAL_AND_RECORD_CONTEXT: Statement = {
  name: 'tiergate_principal_record_context',
  text: `WITH principal AS (${PRINCIPAL_SELECT})
         SELECT principal.*, EXISTS (SELECT 1 FROM subjects s WHERE s.id = $4::uuid) AS "subjectFound",
                ${contextColumns({ subject: '$4::uuid', user: 'principal."userId"', agency: 'principal."agencyId"', kind: 'principal."agencyKind"', now: '$5::timestamptz' })},
                ${entryFactsColumn('$4::uuid')}
           FROM principal`,
};

/**
 * The principal of `claims` from the current rows, checked exactly as `resolvePrincipal` checks it
 * (TokenRejected), and the record's context for it at `now`, in one statement: the API's record
 * read saves a round trip. `record` is undefined for an unknown person; nothing of it is used
 * when the principal is refused.
 */
export async function readPrincipalAndRecordContext(
  db: Executor,
  claims: AccessTokenClaims,
  subjectId: string,
  now: Date,
): Promise<{ principal: Principal; record: RecordContext | undefined }> {
  const [row] = await runStatement<PrincipalRow & RecordContextRow & { subjectFound: boolean }>(db, PRINCIPAL_AND_RECORD_CONTEXT, [
    ...principalParams(claims),
    subjectId,
    now.toISOString(),
  ]);
  const principal = principalOf(row, claims);
  return { principal, record: row!.subjectFound ? recordContextOf(subjectId, row!) : undefined };
}
