import { ForbiddenError, subject as as } from '@casl/ability';
import type { RequestHandler } from 'express';
import type { Principal } from '../auth/principal.js';
import type { AuditedRunner } from '../audit/audited.js';
import type { AuditAction, Basis } from '../audit/vocabulary.js';
import { Forbidden } from '../errors/problems.js';
import { UUID_PATTERN } from '../http/ids.js';
import { compileAbility, type Action, type AppAbility, type SubjectType } from './ability.js';
import type { SubjectContext } from './context.js';
import { redisclosureNotices, type Notice } from './notices.js';
import { principalCeiling, roleRule, type Policy } from './policy.js';
import { grantsFor, releases, type EntryFacts, type EntryGrant } from './release.js';
import { TIERS, tierRank, type Tier } from './vocabulary.js';

export type { EntryFacts } from './release.js';

/**
 * The one policy decision point. Routes declare `authorize(action, type)` (a check by type,
 * before the database is touched); services call `decideFromContext` (a record read),
 * `assertAllowed` (this case, this consent), `breakGlassTier` (a declaration) and
 * `assertMayDecide` (a four-eyes request), after loading what they decide on. Nothing else
 * decides access.
 */
export class DecisionPoint {
  constructor(
    readonly policy: Policy,
    private readonly runner: AuditedRunner,
    private readonly options: { approverNeedsSecondFactor: boolean } = { approverNeedsSecondFactor: true },
  ) {}

  /**
   * Who may decide a four-eyes request (SPEC principle 14). Independence is structural, not a
   * role checked at the moment: the decider is a person (never a machine client, whatever its
   * role), signed in with a second factor (outside demo mode), whose role audits and does not
   * administer, whose own account was made an approver by another compliance officer's
   * approval (or is the deployment's bootstrap auditor, or audited before the rule), and who
   * neither asked for the change nor is its subject. Throws Forbidden naming the failed rule.
   */
  assertMayDecide(principal: Principal, decider: DeciderFacts | undefined, approval: ApprovalFacts): void {
    const refusal = approverRefusal(this.policy, this.options.approverNeedsSecondFactor, principal, decider, approval);
    if (refusal) throw new Forbidden(refusal);
  }

  // One ability per principal, and so per request: a principal is made for one request from the
  // current rows and never changed, and is dropped with it.
  private readonly abilities = new WeakMap<Principal, AppAbility>();

  /** The CASL ability of this principal (its role's actions and instance conditions), compiled once. */
  abilityFor(principal: Principal): AppAbility {
    let ability = this.abilities.get(principal);
    if (!ability) {
      ability = compileAbility(this.policy, principal);
      this.abilities.set(principal, ability);
    }
    return ability;
  }

  /** Route guard: can this principal's role do `action` on `type` at all? Refusals are logged. */
  authorize(action: Action, type: SubjectType, auditAction: AuditAction): RequestHandler {
    return (req, _res, next) => {
      if (this.abilityFor(req.user!).can(action, type)) return next();
      const err = new Forbidden(`no-rule:${action}:${type}`);
      this.runner
        .deny({ requestId: req.id, actor: req.user, action: auditAction, decision: 'deny', reason: err.reason, subjectId: subjectInPath(req.originalUrl) })
        .then(() => next(err), next);
    };
  }

  /** Whether this principal's role may do `action` on `type` at all, as `authorize` decides: what a page offers (the route still decides, and logs). */
  allows(principal: Principal | undefined, action: Action, type: SubjectType): boolean {
    return principal !== undefined && this.abilityFor(principal).can(action, type);
  }

  /** Instance check (this case, this consent): throws Forbidden carrying the rule's reason. */
  assertAllowed(principal: Principal, action: Action, type: SubjectType, instance: Record<string, unknown>): void {
    try {
      ForbiddenError.from(this.abilityFor(principal)).throwUnlessCan(action, as(type, instance));
    } catch (err) {
      if (err instanceof ForbiddenError) throw new Forbidden(`no-rule:${action}:${type}`);
      throw err;
    }
  }

  /**
   * Break-glass: the tier a declaration grants, when this principal's ceiling
   * reaches it; otherwise Forbidden `break-glass-above-ceiling`. The route has already checked
   * the role may declare at all (`authorize('create', 'BreakGlass')`).
   */
  breakGlassTier(principal: Principal): Tier {
    const { tier } = this.policy.breakGlass;
    const ceiling = principalCeiling(this.policy, principal);
    if (!ceiling || tierRank(ceiling) < tierRank(tier)) throw new Forbidden('break-glass-above-ceiling');
    return tier;
  }

  /**
   * The tier of one person's record this principal gets now, why, and which entries it may see,
   * from its context: the grants (release.ts) decide, and the basis is theirs.
   */
  decideFromContext(principal: Principal, context: SubjectContext): TierDecision {
    if (!this.abilityFor(principal).can('read', 'Subject')) throw new Forbidden('no-rule:read:Subject');
    const entryGrants = grantsFor(this.policy, principal, context);
    const opening = entryGrants.filter((g) => g.opensRecord);
    const grantedTiers = TIERS.filter((t) => t === 'basic' || opening.some((g) => g.tiers.includes(t)));
    // Each tier a grant opens, named with its grant, in the reverse of the grants' order
    // (break-glass first, the basic tier last): the order the access block has always had.
    const tierBasis: Basis[] = [BASIC_BASIS, ...opening.flatMap((g) => g.tiers.map((tier) => ({ tier, ...g.basis })))].reverse();
    return {
      entryGrants,
      canSeeEntry: (entry) => entryGrants.some((g) => releases(g, entry)),
      // The access block describes exactly what is carried: a tier reached only through the
      // caller's own or authored entries is named with that basis (SPEC principle 2).
      describe: (carried) => {
        const perEntry: Basis[] = [];
        let top = grantedTiers.at(-1)!;
        for (const entry of carried) {
          const grounds = entryGrants.filter((g) => releases(g, entry));
          if (grounds.some((g) => g.opensRecord)) continue;
          const ground = grounds.find((g) => g.basis.rule === 'own-contribution') ?? grounds.find((g) => g.basis.rule === 'author');
          if (!ground) throw new Error('an entry no grant releases reached the response');
          const tier = entry.tier as Tier;
          if (!perEntry.some((b) => b.rule === ground.basis.rule && b.tier === tier)) perEntry.push({ tier, rule: ground.basis.rule });
          if (tierRank(tier) > tierRank(top)) top = tier;
        }
        // In a stable order, whatever order the entries came in.
        perEntry.sort((a, b) => tierRank(a.tier as Tier) - tierRank(b.tier as Tier) || a.rule.localeCompare(b.rule));
        const basis = [...tierBasis, ...perEntry];
        const notices = redisclosureNotices(principal, carried);
        return {
          tier: top,
          basis,
          withheld: TIERS.filter((t) => tierRank(t) > tierRank(top)),
          ...(notices.length ? { notices } : {}),
        };
      },
      breakGlass: opening.some((g) => g.basis.rule === 'break-glass'),
    };
  }
}

const BASIC_BASIS: Basis = { tier: 'basic', rule: 'partner-read' };

/** Why this principal may not decide this request (see `DecisionPoint.assertMayDecide`), or undefined when it may. */
export function approverRefusal(
  policy: Policy,
  needsSecondFactor: boolean,
  principal: Principal,
  decider: DeciderFacts | undefined,
  approval: ApprovalFacts,
): string | undefined {
  const permissions = roleRule(policy, principal.agencyKind, principal.role)?.permissions ?? [];
  if (principal.clientId !== undefined || decider?.kind !== 'person') return 'approver-not-a-person';
  if (!permissions.includes('audit') || permissions.includes('admin')) return 'approver-administers';
  if (needsSecondFactor && !principal.amr.includes('mfa')) return 'approver-without-second-factor';
  const approved =
    decider.approverBasis === 'bootstrap' ||
    decider.approverBasis === 'pre-existing' ||
    (decider.approverBasis === 'approval' &&
      decider.basisStatus === 'approved' &&
      decider.basisDecidedBy !== null &&
      decider.basisDecidedBy !== principal.userId);
  if (decider.disabled || !approved) return 'approver-not-approved';
  if (approval.requestedBy === null) return 'requester-unknown';
  if (approval.requestedBy === principal.userId) return 'approver-requested';
  if (approval.targetUserIds.includes(principal.userId)) return 'approver-is-subject';
  return undefined;
}

/** The deciding account as stored: its kind and why it may decide (`users.approver_basis`). */
export interface DeciderFacts {
  kind: string;
  disabled: boolean;
  approverBasis: string | null;
  /** Who decided the approval that made this account an approver, and how. */
  basisDecidedBy: string | null;
  basisStatus: string | null;
}

/** The request being decided: who asked, and whose account it changes. */
export interface ApprovalFacts {
  requestedBy: string | null;
  targetUserIds: string[];
}

export interface AccessBlock {
  tier: Tier;
  basis: Basis[];
  withheld: Tier[];
  notices?: Notice[];
}

export interface TierDecision {
  /** The grounds on which entries are released, for the SQL filter (`releaseFilterSql`); `canSeeEntry` checks every row against the same grants. */
  entryGrants: EntryGrant[];
  canSeeEntry(entry: EntryFacts): boolean;
  /** The `access` block for a response that carries `carried` (entries `canSeeEntry` allowed). */
  describe(carried: EntryFacts[]): AccessBlock;
  breakGlass: boolean;
}

// A refused request under /v1/subjects/:id is logged against that person (only a well-formed id).
const SUBJECT_PATH = new RegExp(`^/v1/subjects/(${UUID_PATTERN})(?:[/?]|$)`, 'i');
function subjectInPath(url: string): string | undefined {
  return SUBJECT_PATH.exec(url)?.[1]?.toLowerCase();
}
