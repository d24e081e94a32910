import { ForbiddenError, subject as as } from '@casl/ability';
import type { RequestHandler } from 'express';
import type { Principal } from '../auth/principal.js';
import type { AuditedRunner } from '../audit/audited.js';
import type { AuditAction, Basis } from '../audit/vocabulary.js';
import type { Executor } from '../db/client.js';
import { Forbidden } from '../errors/problems.js';
import { compileAbility, tierField, type Action, type SubjectType } from './ability.js';
import { loadSubjectContext } from './context.js';
import { principalCeiling, type Policy } from './policy.js';
import { ENTRY_TIERS, TIERS, tierRank, type Tier } from './vocabulary.js';

/**
 * The one policy decision point. Routes declare `authorize(action, type)` (a check by type,
 * before the database is touched); services call `decideTier` and `assertAllowed` for decisions
 * about one person or one record, after loading it. Nothing else decides access.
 */
export class DecisionPoint {
  constructor(
    readonly policy: Policy,
    private readonly runner: AuditedRunner,
  ) {}

  /** Route guard: can this principal's role do `action` on `type` at all? Refusals are logged. */
  authorize(action: Action, type: SubjectType, auditAction: AuditAction): RequestHandler {
    return (req, _res, next) => {
      const { ability } = compileAbility(this.policy, req.user!);
      if (ability.can(action, type)) return next();
      const err = new Forbidden(`no-rule:${action}:${type}`);
      this.runner
        .deny({ requestId: req.id, actor: req.user, action: auditAction, decision: 'deny', reason: err.reason, subjectId: subjectInPath(req.originalUrl) })
        .then(() => next(err), next);
    };
  }

  /** Instance check (this case, this consent): throws Forbidden carrying the rule's reason. */
  assertAllowed(principal: Principal, action: Action, type: SubjectType, instance: Record<string, unknown>): void {
    const { ability } = compileAbility(this.policy, principal);
    try {
      ForbiddenError.from(ability).throwUnlessCan(action, as(type, instance));
    } catch (err) {
      if (err instanceof ForbiddenError) throw new Forbidden(`no-rule:${action}:${type}`);
      throw err;
    }
  }

  /** The tier of one person's record this principal gets now, why, and which entries it may see. */
  async decideTier(db: Executor, principal: Principal, subjectId: string): Promise<TierDecision> {
    const context = await loadSubjectContext(db, principal, subjectId);
    const { ability, bases } = compileAbility(this.policy, principal, context);
    const record = as('Subject', { id: subjectId } as Record<string, unknown>);
    const grantedTiers = TIERS.filter((t) => ability.can('read', record, tierField(t)));
    const top = grantedTiers.at(-1);
    if (!top) throw new Forbidden('no-rule:read:Subject');
    const basis = ability
      .rulesFor('read', 'Subject')
      .filter((r) => !r.inverted && r.fields && grantedTiers.some((t) => r.fields!.includes(tierField(t))) && r.matchesConditions(record))
      .map((r) => bases.get(r.reason ?? ''))
      .filter((b): b is Basis => b !== undefined);
    return {
      tier: top,
      basis,
      withheld: TIERS.filter((t) => !grantedTiers.includes(t)),
      breakGlass: basis.some((b) => b.rule === 'break-glass'),
      entryTiers: grantedTiers.filter((t) => t !== 'basic'),
      ceilingEntryTiers: ENTRY_TIERS.filter((t) => {
        const c = principalCeiling(this.policy, principal);
        return c !== undefined && tierRank(t) <= tierRank(c);
      }),
      releasedCategories: [...new Set(context.consents.flatMap((c) => c.sensitiveCategories))],
      canSeeEntry: (entry) => ability.can('read', as('Entry', { ...entry, subjectId } as Record<string, unknown>)),
    };
  }
}

export interface TierDecision {
  tier: Tier;
  basis: Basis[];
  withheld: Tier[];
  breakGlass: boolean;
  /** For the SQL filter; `canSeeEntry` re-checks every row that filter lets through. */
  entryTiers: Tier[];
  /** Tiers of the caller agency's own entries it may see (the role's ceiling). */
  ceilingEntryTiers: Tier[];
  releasedCategories: string[];
  canSeeEntry(entry: { tier: string; sensitivity: string[]; agencyId: string }): boolean;
}

// A refused request under /v1/subjects/:id is logged against that person (only a well-formed id).
const SUBJECT_PATH = /^\/v1\/subjects\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?:[/?]|$)/i;
function subjectInPath(url: string): string | undefined {
  return SUBJECT_PATH.exec(url)?.[1]?.toLowerCase();
}
