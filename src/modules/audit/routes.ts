import { Router, type Request } from 'express';
import { and, desc, eq, gte, lt, or, sql, type SQL } from 'drizzle-orm';
import { z } from 'zod';
import type { AppDeps } from '../../deps.js';
import type { AuditReads } from '../../audit/audit-reads.js';
import { AUDIT_ACTIONS as A, AUDIT_ACTIONS, DECISIONS } from '../../audit/vocabulary.js';
import { accessLog } from '../../db/schema/index.js';
import { BadRequest } from '../../errors/problems.js';
import { isoDateTime, uuid, validate } from '../../http/validate.js';
import { approvalsRouter } from '../approvals/routes.js';
import { breakGlassReviewRouter } from './break-glass-review.js';
import { checkpointsRouter } from './checkpoints.js';
import { toCsv } from './csv.js';
import { disclosuresRouter } from './disclosures.js';
import { setFreshnessHeaders } from '../../audit/audit-reads.js';

export const MAX_PAGE = 200;
export const MAX_CSV = 10_000;

export const eventsQuery = z.strictObject({
  subject: uuid.optional(),
  actor: z.string().min(1).max(200).optional(),
  agency: z
    .string()
    .regex(/^[a-z0-9-]{2,64}$/)
    .optional(),
  action: z.enum(Object.values(AUDIT_ACTIONS) as [string, ...string[]]).optional(),
  decision: z.enum(DECISIONS).optional(),
  from: isoDateTime.optional(),
  to: isoDateTime.optional(),
  cursor: z
    .string()
    .regex(/^[0-9]{1,18}$/, 'must be a cursor from a previous page')
    .optional(),
  limit: z.coerce.number().int().min(1).max(MAX_PAGE).default(50),
  format: z.enum(['json', 'csv']).default('json'),
});

type Row = typeof accessLog.$inferSelect;

/** An actor by user id (any case: normalised like every id) or by username, exactly as logged. */
function actorFilter(actor: string): SQL {
  const id = uuid.safeParse(actor);
  return id.success ? eq(accessLog.actorUserId, id.data) : eq(accessLog.actorUsername, actor);
}

function present(r: Row) {
  return {
    id: r.id,
    at: r.at,
    // `client`: the machine client that made the request, alone or for `user` (SPEC principle 10).
    actor: { user: r.actorUsername, userId: r.actorUserId, agency: r.actorAgency, role: r.actorRole, client: r.actorClient },
    subject: r.subjectId,
    action: r.action,
    decision: r.decision,
    tier: r.tier,
    basis: r.basis,
    breakGlass: r.breakGlass,
    reason: r.reason,
    requestId: r.requestId,
    // The client's own X-Request-Id, when it sent one: its to choose, so it identifies nothing.
    clientRequestId: r.clientRequestId,
    detail: r.detail,
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

/** GET /v1/audit/events: the compliance officer's search of the access log, newest first. */
export function auditRouter(deps: AppDeps): Router {
  const { pdp, runner, auditReads } = deps;
  const router = Router();

  router.get('/events', pdp.authorize('read', 'AuditEvent', A.auditRead), validate({ query: eventsQuery }), async (req, res) => {
    const q = res.locals.query as z.infer<typeof eventsQuery>;
    if (q.from && q.to && Date.parse(q.from) >= Date.parse(q.to)) throw new BadRequest('`from` must be before `to`.');
    const limit = q.format === 'csv' ? MAX_CSV : q.limit;
    const { result: rows, freshness } = await searchEvents(auditReads, req, q, limit);
    setFreshnessHeaders(res, freshness);
    const next = rows.length > limit ? String(rows[limit - 1]!.seq) : null;
    const page = rows.slice(0, limit);
    if (q.format === 'csv') {
      if (next) {
        // The next page keeps every filter and the CSV format; only the cursor moves.
        const params = new URLSearchParams(
          Object.entries({ ...q, limit: undefined, cursor: next }).flatMap(([k, v]) => (v === undefined ? [] : [[k, String(v)]])),
        );
        res.set('Link', `<${req.baseUrl}/events?${params.toString()}>; rel="next"`);
      }
      res
        .type('text/csv')
        .attachment('access-log.csv')
        .send(toCsv(CSV_COLUMNS, page.map(csvRow)));
      return;
    }
    res.json({ events: page.map(present), next, freshness });
  });

  router.use(disclosuresRouter({ pdp, auditReads }), breakGlassReviewRouter({ pdp, runner }), approvalsRouter({ pdp, runner }), checkpointsRouter(deps));
  return router;
}
