import { runStatement, type Executor, type Statement } from '../db/client.js';
import { clientRequestIdOf } from '../http/request-context.js';
import type { AuditEntry } from './entry.js';
import { observed } from './observers.js';

// Control characters are escaped so a logged string cannot forge lines in an export.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;
const clean = (s: string | null | undefined) => (s == null ? s : s.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));

const ENTRY_COLUMNS = `request_id, client_request_id, actor_user_id, actor_username, actor_agency, actor_role, actor_client,
                       subject_id, action, decision, tier, basis, break_glass, reason, detail`;
/** The entry's values in ENTRY_COLUMNS order, as the 15 parameters after the first `offset` (see entryParams). */
const entryValues = (offset: number) => {
  const $ = (n: number) => `$${offset + n}`;
  return `${$(1)}, ${$(15)}, ${$(2)}::uuid, ${$(3)}, ${$(4)}, ${$(5)}, ${$(6)}, ${$(7)}::uuid, ${$(8)}, ${$(9)}, ${$(10)}, ${$(11)}::jsonb, ${$(12)}::boolean, ${$(13)}, ${$(14)}::jsonb`;
};

// The entry and its seal-queue row in one statement: one round trip, and an entry is never
// committed unqueued even outside a transaction. Sent by name, so it is planned once per connection.
const APPEND: Statement = {
  name: 'tiergate_append_access_log',
  text: `WITH e AS (INSERT INTO access_log (${ENTRY_COLUMNS}) VALUES (${entryValues(0)}) RETURNING id, seq)
         INSERT INTO audit_seal_queue (entry_id, seq) SELECT id, seq FROM e`,
};

/** Appends one entry; callers pass the transaction that read or wrote the data. */
export const appendAccessLog = (db: Executor, entry: AuditEntry): Promise<void> =>
  observed(entry, () => runStatement(db, APPEND, entryParams(entry))).then(() => undefined);

/**
 * A read that carries its own log entry: the SELECT (parameters $1..$n) with the entry and its
 * seal-queue row written by the same statement, only when the SELECT finds a row (or always, for
 * a read such as a search whose empty answer is a disclosure too). Outside a transaction a
 * statement is one, so the entry commits with the read or neither happens (SPEC principle 3)
 * without the BEGIN and COMMIT round trips; in a transaction, with the transaction. The entry's
 * facts are all known when it runs: they are the caller's (`AuditedRunner`'s `disclose`), never
 * computed from the rows, so the entry says the same whoever runs the read.
 */
export interface LoggedRead {
  withEntry: Statement;
  /** The entry is written even when the read finds nothing. */
  always: boolean;
}

export interface LoggedReadOptions {
  always?: boolean;
}

export function loggedRead(name: string, select: string, params: number, options: LoggedReadOptions = {}): LoggedRead {
  return {
    withEntry: {
      name: `${name}_logged`,
      text: `WITH r AS MATERIALIZED (${select}),
                  e AS (INSERT INTO access_log (${ENTRY_COLUMNS}) SELECT ${entryValues(params)}${options.always ? '' : ' WHERE EXISTS (SELECT 1 FROM r)'} RETURNING id, seq),
                  q AS (INSERT INTO audit_seal_queue (entry_id, seq) SELECT id, seq FROM e)
             SELECT * FROM r`,
    },
    always: options.always ?? false,
  };
}

/** Runs `read.withEntry`: the rows, and the entry appended if there are any (or `always`). */
export async function readAndAppend<R>(db: Executor, read: LoggedRead, values: unknown[], entry: AuditEntry): Promise<R[]> {
  return observed(
    entry,
    () => runStatement<R>(db, read.withEntry, [...values, ...entryParams(entry)]),
    (rows) => read.always || rows.length > 0,
  );
}

function entryParams(entry: AuditEntry): unknown[] {
  return [
    entry.requestId,
    entry.actor?.userId ?? null,
    clean(entry.actor?.username) ?? null,
    entry.actor?.agency ?? null,
    entry.actor?.role ?? null,
    entry.actor?.clientId ?? null,
    entry.subjectId ?? null,
    entry.action,
    entry.decision,
    entry.tier ?? null,
    JSON.stringify(entry.basis ?? []),
    entry.breakGlass ?? false,
    clean(entry.reason) ?? null,
    JSON.stringify(entry.detail ?? {}),
    clientRequestIdOf(entry.requestId) ?? null,
  ];
}
