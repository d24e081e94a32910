import type { Request } from 'express';
import { and, desc, eq, gt, sql } from 'drizzle-orm';
import type { Principal } from '../../auth/principal.js';
import type { AuditScope } from '../../audit/audited.js';
import type { DecisionPoint } from '../../authz/decide.js';
import { z } from 'zod';
import type { AppDeps } from '../../deps.js';
import { AUDIT_ACTIONS as A } from '../../audit/vocabulary.js';
import type { Policy } from '../../authz/policy.js';
import { breakGlassGrants, users } from '../../db/schema/index.js';
import { Conflict, Forbidden, NotFound } from '../../errors/problems.js';
import { defineRoute, type RouteGroup } from '../../http/route.js';
import { idParams, text } from '../../http/validate.js';
import { findSubject } from '../subjects/repository.js';
import { BreakGlassGrant } from './schemas.js';

type ReasonRules = Pick<Policy['breakGlass'], 'minReasonLength' | 'minReasonWords'>;

/**
 * A reason as it is judged and stored: NFKC-normalised (full-width and compatibility forms fold
 * to plain letters), format characters (\p{Cf}: zero-width spaces and joiners, bidi controls, soft
 * hyphens) removed, runs of white space made one space.
 */
export const normaliseReason = (reason: string) =>
  reason
    .normalize('NFKC')
    .replace(/\p{Cf}/gu, '')
    .replace(/\s+/gu, ' ')
    .trim();

/** The words of a reason: runs of two or more letters that are not one letter repeated ("aaaa"). */
const words = (reason: string) => (reason.match(/\p{L}[\p{L}\p{M}]+/gu) ?? []).map((w) => w.toLowerCase()).filter((w) => !/^(.)\1+$/u.test(w));

/** Why a (normalised) reason does not carry real words, or undefined when it does. */
export function reasonProblem(reason: string, rules: ReasonRules): string | undefined {
  if (/(.)\1{4,}/u.test(reason)) return 'must not be padded with a repeated character';
  const real = words(reason);
  if (new Set(real).size < rules.minReasonWords) return `must say what the emergency is in at least ${rules.minReasonWords} different words`;
  if (real.join('').length < rules.minReasonLength) return `must carry at least ${rules.minReasonLength} letters in words`;
  return undefined;
}

/**
 * The declaration: a reason that carries real words (see reasonProblem), and `renew: true` to
 * replace one's own live grant for the person with a new one (the reason must then be new too).
 */
export const breakGlassBody = (rules: ReasonRules) =>
  z.strictObject({
    reason: text(1000)
      .min(rules.minReasonLength, `must be at least ${rules.minReasonLength} characters`)
      .transform(normaliseReason)
      .superRefine((reason, ctx) => {
        const problem = reasonProblem(reason, rules);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      }),
    renew: z.boolean().optional(),
  });

/**
 * The declaration's work under the audited runner, shared by the API route and the console. One
 * live grant per user and person: a second declaration while one is live is refused (LiveGrant,
 * answered 409 and logged by the caller), unless it renews it with a new reason (flagged:
 * `reason: break-glass-renewal` in the log, `renewalOf` in the review queue). At most
 * `breakGlass.maxPerDay` declarations per user in any 24 hours (403, logged). `reason` is the
 * normalised reason of `breakGlassBody`.
 */
export async function declareBreakGlass(
  pdp: DecisionPoint,
  { tx, note }: AuditScope,
  principal: Principal,
  subjectId: string,
  reason: string,
  renew?: boolean,
) {
  const { breakGlass } = pdp.policy;
  note({ subjectId, breakGlass: true, basis: [{ rule: 'break-glass' }] });
  if (!(await findSubject(tx, subjectId))) throw new NotFound('subject');
  const tier = pdp.breakGlassTier(principal);
  // One declaration at a time per user: the live-grant rule and the daily cap cannot race.
  await tx.select({ id: users.id }).from(users).where(eq(users.id, principal.userId)).for('update');
  const now = new Date();
  const [live] = await tx
    .select({ id: breakGlassGrants.id, reason: breakGlassGrants.reason })
    .from(breakGlassGrants)
    .where(and(eq(breakGlassGrants.subjectId, subjectId), eq(breakGlassGrants.userId, principal.userId), gt(breakGlassGrants.expiresAt, now)))
    .orderBy(desc(breakGlassGrants.createdAt))
    .limit(1);
  if (live && !renew) throw new LiveGrant('break-glass-live', 'A break-glass grant for this person is live; renew it with a new reason.', live.id);
  if (!live && renew) throw new LiveGrant('break-glass-nothing-to-renew', 'There is no live break-glass grant for this person to renew.');
  if (live && normaliseReason(live.reason).toLowerCase() === reason.toLowerCase()) {
    throw new LiveGrant('break-glass-renewal-same-reason', 'A renewal needs a new reason.', live.id);
  }
  const [today] = await tx
    .select({ n: sql<number>`count(*)::int`.mapWith(Number) })
    .from(breakGlassGrants)
    .where(and(eq(breakGlassGrants.userId, principal.userId), gt(breakGlassGrants.createdAt, new Date(now.getTime() - 86_400_000))));
  if ((today?.n ?? 0) >= breakGlass.maxPerDay) throw new Forbidden('break-glass-daily-cap');
  const expiresAt = new Date(now.getTime() + breakGlass.minutes * 60_000);
  // The reason is free text and may name the person: it stays in the grant, not in the log.
  const [row] = await tx
    .insert(breakGlassGrants)
    .values({ subjectId, userId: principal.userId, agencyId: principal.agencyId, tier, reason, expiresAt })
    .returning({ id: breakGlassGrants.id, tier: breakGlassGrants.tier, expiresAt: breakGlassGrants.expiresAt });
  note({
    tier: row!.tier,
    basis: [{ tier: row!.tier, rule: 'break-glass', breakGlassId: row!.id }],
    ...(live ? { reason: 'break-glass-renewal' } : {}),
    detail: { breakGlassId: row!.id, ...(live ? { renewalOf: live.id } : {}) },
  });
  return { ...row!, renewalOf: live?.id };
}

/**
 * A declaration under the audited runner, its refusal by the live-grant rule logged like a 403 and
 * answered 409. The API route and the console both declare through here.
 */
export function runBreakGlass({ pdp, runner }: Pick<AppDeps, 'pdp' | 'runner'>, req: Request, subjectId: string, reason: string, renew?: boolean) {
  const principal = req.user!;
  return runner
    .run(req, A.breakGlass, (scope) => declareBreakGlass(pdp, scope, principal, subjectId, reason, renew))
    .catch(async (err: unknown) => {
      if (err instanceof LiveGrant) {
        await runner.deny({
          requestId: req.id,
          actor: principal,
          action: A.breakGlass,
          decision: 'deny',
          subjectId,
          breakGlass: true,
          reason: err.reason,
          detail: err.liveId ? { liveGrantId: err.liveId } : {},
        });
      }
      throw err;
    });
}

/** POST /v1/subjects/:id/break-glass: a declared emergency, time-boxed, flagged and logged; every refusal about access is logged, the 409 included. */
export function breakGlassRoutes({ pdp, runner }: Pick<AppDeps, 'pdp' | 'runner'>): RouteGroup {
  return {
    prefix: '/subjects',
    tag: 'break-glass',
    routes: [
      defineRoute({
        method: 'post',
        path: '/:id/break-glass',
        operationId: 'breakGlass',
        summary: 'Declare an emergency: a temporary elevated tier, flagged in the log and queued for review',
        description:
          'One live grant per user and person: a second while one is live is 409 unless `renew` is true with a new reason (a renewal is flagged in the log and the review queue); at most `breakGlass.maxPerDay` declarations per user in any 24 hours (403).',
        authorize: { action: 'create', type: 'BreakGlass', audit: A.breakGlass },
        params: idParams,
        body: breakGlassBody(pdp.policy.breakGlass),
        problems: [409],
        responses: { 201: { description: 'Granted', schema: BreakGlassGrant } },
        handler: async ({ req, params, body }) => {
          const grant = await runBreakGlass({ pdp, runner }, req, params.id, body.reason, body.renew);
          return {
            status: 201,
            body: {
              id: grant.id,
              subjectId: params.id,
              tier: grant.tier,
              expiresAt: grant.expiresAt,
              ...(grant.renewalOf ? { renewalOf: grant.renewalOf } : {}),
            },
          };
        },
      }),
    ],
  };
}

/** 409 for a declaration the live-grant rule refuses; `reason` goes to the log. */
class LiveGrant extends Conflict {
  constructor(
    readonly reason: string,
    detail: string,
    readonly liveId?: string,
  ) {
    super(detail);
  }
}
