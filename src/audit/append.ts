import type { Executor } from '../db/client.js';
import { accessLog, auditSealQueue } from '../db/schema/index.js';
import type { Principal } from '../auth/principal.js';
import { clientRequestIdOf } from '../http/request-context.js';
import type { AuditAction, Basis, Decision } from './vocabulary.js';

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

/** Appends one entry; callers pass the transaction that read or wrote the data. */
export async function appendAccessLog(db: Executor, entry: AuditEntry): Promise<void> {
  const [row] = await db
    .insert(accessLog)
    .values({
      requestId: entry.requestId,
      clientRequestId: clientRequestIdOf(entry.requestId) ?? null,
      actorUserId: entry.actor?.userId ?? null,
      actorUsername: clean(entry.actor?.username) ?? null,
      actorAgency: entry.actor?.agency ?? null,
      actorRole: entry.actor?.role ?? null,
      actorClient: entry.actor?.clientId ?? null,
      subjectId: entry.subjectId ?? null,
      action: entry.action,
      decision: entry.decision,
      tier: entry.tier ?? null,
      basis: entry.basis ?? [],
      breakGlass: entry.breakGlass ?? false,
      reason: clean(entry.reason) ?? null,
      detail: entry.detail ?? {},
    })
    .returning({ id: accessLog.id, seq: accessLog.seq });
  // Queued for the sealer in the same transaction: an entry is never committed unqueued.
  await db.insert(auditSealQueue).values({ entryId: row!.id, seq: row!.seq });
}
