import { Router } from 'express';
import type { Principal } from '../../auth/principal.js';
import type { AuditScope } from '../../audit/audited.js';
import type { DecisionPoint } from '../../authz/decide.js';
import { z } from 'zod';
import type { AppDeps } from '../../app.js';
import { AUDIT_ACTIONS as A } from '../../audit/vocabulary.js';
import { principalCeiling } from '../../authz/policy.js';
import { tierRank } from '../../authz/vocabulary.js';
import { breakGlassGrants } from '../../db/schema/index.js';
import { Forbidden, NotFound } from '../../errors/problems.js';
import { idParams, text, validate } from '../../http/validate.js';
import { findSubject } from '../subjects/repository.js';

/** The declaration: a reason at least as long as the policy asks (a length check, so the OpenAPI document shows it). */
export const breakGlassBody = (minReasonLength: number) =>
  z.strictObject({ reason: text(1000).min(minReasonLength, `must be at least ${minReasonLength} characters`) });

/** The declaration's work, run by the audited runner (the API route and the console share it). */
export async function declareBreakGlass(pdp: DecisionPoint, { tx, note }: AuditScope, principal: Principal, subjectId: string, reason: string) {
  const { breakGlass } = pdp.policy;
  note({ subjectId, breakGlass: true, basis: [{ rule: 'break-glass' }] });
  if (!(await findSubject(tx, subjectId))) throw new NotFound('subject');
  const ceiling = principalCeiling(pdp.policy, principal);
  if (!ceiling || tierRank(ceiling) < tierRank(breakGlass.tier)) throw new Forbidden('break-glass-above-ceiling');
  const expiresAt = new Date(Date.now() + breakGlass.minutes * 60_000);
  // The reason is free text and may name the person: it stays in the grant, not in the log.
  const [row] = await tx
    .insert(breakGlassGrants)
    .values({ subjectId, userId: principal.userId, agencyId: principal.agencyId, tier: breakGlass.tier, reason, expiresAt })
    .returning({ id: breakGlassGrants.id, tier: breakGlassGrants.tier, expiresAt: breakGlassGrants.expiresAt });
  note({ tier: row!.tier, basis: [{ tier: row!.tier, rule: 'break-glass', breakGlassId: row!.id }], detail: { breakGlassId: row!.id } });
  return row!;
}

/** POST /v1/subjects/:id/break-glass: a declared emergency, time-boxed, flagged and logged. */
export function breakGlassRouter({ pdp, runner }: AppDeps): Router {
  const { breakGlass } = pdp.policy;
  const body = breakGlassBody(breakGlass.minReasonLength);
  const router = Router();

  router.post('/:id/break-glass', pdp.authorize('create', 'BreakGlass', A.breakGlass), validate({ params: idParams, body }), async (req, res) => {
    const principal = req.user!;
    const subjectId: string = res.locals.params.id;
    const grant = await runner.run(req, A.breakGlass, (scope) => declareBreakGlass(pdp, scope, principal, subjectId, req.body.reason));
    res.status(201).json({ id: grant.id, subjectId, tier: grant.tier, expiresAt: grant.expiresAt });
  });

  return router;
}
