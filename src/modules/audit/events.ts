// The access log's search, shared by GET /v1/audit/events and the console's compliance pages.
import type { Request } from 'express';
import { and, desc, eq, gte, lt, or, sql, type SQL } from 'drizzle-orm';
import type { z } from 'zod';
import type { AuditReads } from '../../audit/audit-reads.js';
import { AUDIT_ACTIONS as A, type Basis } from '../../audit/vocabulary.js';
import { accessLog } from '../../db/schema/index.js';
import type { eventsQuery } from './schemas.js';
import { uuid } from '../../http/validate.js';

type Row = typeof accessLog.$inferSelect;

/** An actor by user id (any case: normalised like every id) or by username, exactly as logged. */
function actorFilter(actor: string): SQL {
  const id = uuid.safeParse(actor);
  return id.success ? eq(accessLog.actorUserId, id.data) : eq(accessLog.actorUsername, actor);
}

/** One event as the API answers it. */
export function presentEvent(r: Row) {
  return {
    id: r.id,
    at: r.at,
    // `client`: the machine client that made the request, alone or for `user` (SPEC principle 10).
    actor: { user: r.actorUsername, userId: r.actorUserId, agency: r.actorAgency, role: r.actorRole, client: r.actorClient },
    subject: r.subjectId,
    action: r.action,
    decision: r.decision,
    tier: r.tier,
    // jsonb, written only by appendAccessLog from these types.
    basis: r.basis as Basis[],
    breakGlass: r.breakGlass,
    reason: r.reason,
    requestId: r.requestId,
    // The client's own X-Request-Id, when it sent one: its to choose, so it identifies nothing.
    clientRequestId: r.clientRequestId,
    detail: r.detail as Record<string, unknown>,
  };
}

export const CSV_COLUMNS = [
  'id',
  'at',
  'actor_user',
  'actor_agency',
  'actor_role',
  'actor_client',
  'subject',
  'action',
  'decision',
  'tier',
  'basis',
  'break_glass',
  'reason',
  'request_id',
  'client_request_id',
];
export const csvRow = (r: Row) => [
  r.id,
  r.at,
  r.actorUsername,
  r.actorAgency,
  r.actorRole,
  r.actorClient,
  r.subjectId,
  r.action,
  r.decision,
  r.tier,
  r.basis,
  r.breakGlass,
  r.reason,
  r.requestId,
  r.clientRequestId,
];

/**
 * One page of the access log, newest first, with one row more than `limit` when there is a next
 * page; read from the audit replica when there is one (its own log entry committed on the primary
 * first). The API route and the console share it.
 */
export function searchEvents(auditReads: AuditReads, req: Request, q: z.infer<typeof eventsQuery>, limit: number) {
  const filters: (SQL | undefined)[] = [
    q.subject ? or(eq(accessLog.subjectId, q.subject), sql`${accessLog.detail}->'matches' @> ${JSON.stringify([q.subject])}::jsonb`) : undefined,
    q.actor ? actorFilter(q.actor) : undefined,
    q.agency ? eq(accessLog.actorAgency, q.agency) : undefined,
    q.action ? eq(accessLog.action, q.action) : undefined,
    q.decision ? eq(accessLog.decision, q.decision) : undefined,
    q.from ? gte(accessLog.at, new Date(q.from)) : undefined,
    q.to ? lt(accessLog.at, new Date(q.to)) : undefined,
    q.cursor ? lt(accessLog.seq, Number(q.cursor)) : undefined,
  ];
  const query = { ...q, cursor: undefined };
  return auditReads.run(req, A.auditRead, {
    facts: { basis: [{ rule: 'audit' }], detail: { query } },
    read: (db) =>
      db
        .select()
        .from(accessLog)
        .where(and(...filters))
        .orderBy(desc(accessLog.seq))
        .limit(limit + 1),
    after: (page) => ({ detail: { query, returned: Math.min(page.length, limit) } }),
  });
}
