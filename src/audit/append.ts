import { runStatement, type Executor, type Statement } from '../db/client.js';
import type { Principal } from '../auth/principal.js';
import { clientRequestIdOf } from '../http/request-context.js';
import type { AuditAction, Basis, Decision } from './vocabulary.js';
import { observed } from './observers.js';

export interface AuditEntry {
  requestId: string;
  actor?: Principal;
  subjectId?: string | null;
  action: AuditAction;
  decision: Decision;
  tier?: string | null;
  basis?: Basis[];
  breakGlass?: boolean;
  /** A rule name or short machine reason; never free text from the request. */
  reason?: string | null;
  /** Ids and counts only (matched subject ids, created ids, consent ids). */
  detail?: Record<string, unknown>;
}

// Control characters are escaped so a logged string cannot forge lines in an export.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;
const clean = (s: string | null | undefined) => (s == null ? s : s.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));

// The entry and its seal-queue row in one statement: one round trip, and an entry is never
// committed unqueued even outside a transaction. Sent by name, so it is planned once per connection.
const APPEND: Statement = {
  name: 'tiergate_append_access_log',
  text: `WITH e AS (
           INSERT INTO access_log (request_id, client_request_id, actor_user_id, actor_username, actor_agency, actor_role, actor_client,
                                   subject_id, action, decision, tier, basis, break_glass, reason, detail)
           VALUES ($1, $15, $2::uuid, $3, $4, $5, $6, $7::uuid, $8, $9, $10, $11::jsonb, $12::boolean, $13, $14::jsonb)
           RETURNING id, seq)
         INSERT INTO audit_seal_queue (entry_id, seq) SELECT id, seq FROM e`,
};

/** Appends one entry; callers pass the transaction that read or wrote the data. */
export const appendAccessLog = (db: Executor, entry: AuditEntry): Promise<void> => observed(entry, () => insertEntry(db, entry));

async function insertEntry(db: Executor, entry: AuditEntry): Promise<void> {
  await runStatement(db, APPEND, [
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
  ]);
}
