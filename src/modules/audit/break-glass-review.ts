import { Router } from 'express';
import { and, asc, desc, eq, exists, inArray, not, sql, type SQL } from 'drizzle-orm';
import { z } from 'zod';
import type { AppDeps } from '../../deps.js';
import type { Principal } from '../../auth/principal.js';
import type { AuditScope } from '../../audit/audited.js';
import { AUDIT_ACTIONS as A } from '../../audit/vocabulary.js';
import type { Executor } from '../../db/client.js';
import { agencies, breakGlassGrants, breakGlassReviews, users } from '../../db/schema/index.js';
import { NotFound } from '../../errors/problems.js';
import { idParams, text, validate } from '../../http/validate.js';

export const REVIEW_DECISIONS = ['justified', 'unjustified', 'needs-follow-up'] as const;
const MAX_QUEUE = 200;

export const queueQuery = z.strictObject({
  status: z.enum(['awaiting', 'reviewed', 'all']).default('awaiting'),
  limit: z.coerce.number().int().min(1).max(MAX_QUEUE).default(50),
});
export const reviewBody = z.strictObject({ decision: z.enum(REVIEW_DECISIONS), note: text(2000).optional() });

// Accesses made under a grant: allowed, flagged break-glass entries whose basis names it
// (the declaration itself is not an access to the record).
const accessesUnder = (column: 'count' | 'last') =>
  sql`(select ${sql.raw(column === 'count' ? 'count(*)::int' : 'max(l.at)')} from access_log l
        where l.subject_id = ${breakGlassGrants.subjectId} and l.break_glass and l.decision = 'allow'
          and l.action <> ${A.breakGlass}
          and l.basis @> jsonb_build_array(jsonb_build_object('breakGlassId', ${breakGlassGrants.id}::text)))`;

// The grant this one renewed: the same user's grant for the same person that was live when it was
// declared (the declaration refuses a second live grant unless it is a renewal).
const renewalOf = sql<string | null>`(select p.id from break_glass_grants p
        where p.subject_id = ${breakGlassGrants.subjectId} and p.user_id = ${breakGlassGrants.userId}
          and p.created_at < ${breakGlassGrants.createdAt} and p.expires_at > ${breakGlassGrants.createdAt}
        order by p.created_at desc limit 1)`;

const reviewed = exists(sql`(select 1 from ${breakGlassReviews} where ${breakGlassReviews.grantId} = ${breakGlassGrants.id})`);

async function loadQueue(db: Executor, status: z.infer<typeof queueQuery>['status'], limit: number) {
  const where: SQL | undefined = status === 'awaiting' ? not(reviewed) : status === 'reviewed' ? reviewed : undefined;
  // One after another: a transaction is one connection, and pg@9 refuses overlapping queries on it.
  const grants = await db
    .select({
      id: breakGlassGrants.id,
      subjectId: breakGlassGrants.subjectId,
      userId: breakGlassGrants.userId,
      user: users.username,
      agency: agencies.slug,
      tier: breakGlassGrants.tier,
      reason: breakGlassGrants.reason,
      createdAt: breakGlassGrants.createdAt,
      expiresAt: breakGlassGrants.expiresAt,
      renewalOf,
      accesses: accessesUnder('count').mapWith(Number),
      lastAccessAt: accessesUnder('last').mapWith(breakGlassGrants.createdAt),
    })
    .from(breakGlassGrants)
    .innerJoin(users, eq(users.id, breakGlassGrants.userId))
    .innerJoin(agencies, eq(agencies.id, breakGlassGrants.agencyId))
    .where(where)
    .orderBy(desc(breakGlassGrants.createdAt), desc(breakGlassGrants.id))
    .limit(limit);
  const [total] = await db
    .select({ n: sql<number>`count(*)::int`.mapWith(Number) })
    .from(breakGlassGrants)
    .where(where);
  const reviews = grants.length
    ? await db
        .select({
          id: breakGlassReviews.id,
          grantId: breakGlassReviews.grantId,
          decision: breakGlassReviews.decision,
          note: breakGlassReviews.note,
          reviewer: users.username,
          reviewedAt: breakGlassReviews.reviewedAt,
        })
        .from(breakGlassReviews)
        .innerJoin(users, eq(users.id, breakGlassReviews.reviewerId))
        .where(
          inArray(
            breakGlassReviews.grantId,
            grants.map((g) => g.id),
          ),
        )
        .orderBy(asc(breakGlassReviews.reviewedAt), asc(breakGlassReviews.id))
    : [];
  return { grants, reviews, total: total?.n ?? 0 };
}

/** The queue under the audited runner; the reasons may name the person, so which grants were shown is logged. */
export async function reviewQueue({ tx, note }: AuditScope, status: z.infer<typeof queueQuery>['status'], limit: number) {
  const q = await loadQueue(tx, status, limit);
  note({ basis: [{ rule: 'audit' }], detail: { status, returned: q.grants.length, total: q.total, grantIds: q.grants.map((g) => g.id) } });
  return q;
}

/** Appends one review of a grant; the note is the reviewer's free text and stays out of the log. */
export async function recordReview({ tx, note }: AuditScope, reviewer: Principal, grantId: string, decision: (typeof REVIEW_DECISIONS)[number], text?: string) {
  note({ basis: [{ rule: 'audit' }], detail: { grantId } });
  const [grant] = await tx.select({ subjectId: breakGlassGrants.subjectId }).from(breakGlassGrants).where(eq(breakGlassGrants.id, grantId));
  if (!grant) throw new NotFound('break-glass grant');
  const [row] = await tx
    .insert(breakGlassReviews)
    .values({ grantId, reviewerId: reviewer.userId, decision, note: text ?? null })
    .returning();
  note({ subjectId: grant.subjectId, detail: { grantId, reviewId: row!.id, decision } });
  return row!;
}

/**
 * GET /v1/audit/break-glass: grants awaiting review (or reviewed, or all), newest first, each
 * with its reason and the accesses made under it. POST /v1/audit/break-glass/:id/review appends
 * a review; a grant with any review leaves the awaiting queue, and a later review is a new row.
 */
export function breakGlassReviewRouter({ pdp, runner }: Pick<AppDeps, 'pdp' | 'runner'>): Router {
  const router = Router();

  router.get('/break-glass', pdp.authorize('read', 'AuditEvent', A.auditBreakGlassRead), validate({ query: queueQuery }), async (req, res) => {
    const { status, limit } = res.locals.query as z.infer<typeof queueQuery>;
    const now = new Date();
    // The reasons are free text that may name the person: which grants were shown is logged.
    const queue = await runner.run(req, A.auditBreakGlassRead, (scope) => reviewQueue(scope, status, limit));
    res.json({
      status,
      total: queue.total,
      grants: queue.grants.map(({ userId, user, ...g }) => ({
        ...g,
        user: { user, userId },
        active: g.expiresAt > now,
        // A renewal is flagged for the reviewer: the grant it renewed, and that it is one.
        renewal: g.renewalOf !== null,
        reviews: queue.reviews.filter((r) => r.grantId === g.id).map(({ grantId: _grant, ...r }) => r),
      })),
    });
  });

  router.post(
    '/break-glass/:id/review',
    pdp.authorize('read', 'AuditEvent', A.breakGlassReview),
    validate({ params: idParams, body: reviewBody }),
    async (req, res) => {
      const grantId: string = res.locals.params.id;
      const { decision, note: text } = req.body as z.infer<typeof reviewBody>;
      const review = await runner.run(req, A.breakGlassReview, (scope) => recordReview(scope, req.user!, grantId, decision, text));
      res.status(201).json({
        id: review.id,
        grantId,
        decision: review.decision,
        note: review.note,
        reviewer: { user: req.user!.username, userId: review.reviewerId },
        reviewedAt: review.reviewedAt,
      });
    },
  );

  return router;
}
