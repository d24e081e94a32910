import { ForbiddenError, subject as as } from '@casl/ability';
import type { RequestHandler } from 'express';
import type { Principal } from '../auth/principal.js';
import type { AuditedRunner } from '../audit/audited.js';
import type { AuditAction, Basis } from '../audit/vocabulary.js';
import { Forbidden } from '../errors/problems.js';
import { UUID_PATTERN } from '../http/ids.js';
import { compileAbility, TIER_RULES, tierField, type Action, type EntryGrant, type SubjectType } from './ability.js';
import type { SubjectContext } from './context.js';
import { redisclosureNotices, type Notice } from './notices.js';
import { roleRule, type Policy } from './policy.js';
import { TIERS, tierRank, type Tier } from './vocabulary.js';

/**
 * The one policy decision point. Routes declare `authorize(action, type)` (a check by type,
 * before the database is touched); services call `decideFromContext` and `assertAllowed` for
 * decisions about one person or one record, after loading it. Nothing else decides access.
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

  /** Whether this principal's role may do `action` on `type` at all, as `authorize` decides: what a page offers (the route still decides, and logs). */
  allows(principal: Principal | undefined, action: Action, type: SubjectType): boolean {
    return principal !== undefined && compileAbility(this.policy, principal).ability.can(action, type);
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

  /** The tier of one person's record this principal gets now, why, and which entries it may see, from its context. */
  decideFromContext(principal: Principal, context: SubjectContext): TierDecision {
    const { subjectId } = context;
    const { ability, bases, entryGrants } = compileAbility(this.policy, principal, context);
    const record = as('Subject', { id: subjectId } as Record<string, unknown>);
    const grantedTiers = TIERS.filter((t) => ability.can('read', record, tierField(t)));
    if (!grantedTiers.includes('basic')) throw new Forbidden('no-rule:read:Subject');
    const tierBasis = ability
      .rulesFor('read', 'Subject')
      .filter((r) => !r.inverted && r.fields && grantedTiers.some((t) => r.fields!.includes(tierField(t))) && r.matchesConditions(record))
      .map((r) => bases.get(r.reason ?? ''))
      .filter((b): b is Basis => b !== undefined);
    const entryRules = ability.rulesFor('read', 'Entry');
    const asEntry = (entry: EntryFacts) => as('Entry', { ...entry, subjectId } as Record<string, unknown>);
    return {
      entryGrants,
      // The grants narrow (a plain test, as the SQL filter does); the policy decides on what is left.
      canSeeEntry: (entry) => entryGrants.some((g) => grantCovers(g, entry)) && ability.can('read', asEntry(entry)),
      // The access block describes exactly what is carried: a tier reached only through the
      // caller's own or authored entries is named with that basis (SPEC principle 2).
      describe: (carried) => {
        const perEntry: Basis[] = [];
        let top = grantedTiers.at(-1)!;
        for (const entry of carried) {
          const grounds = entryRules.filter((r) => !r.inverted && r.matchesConditions(asEntry(entry))).map((r) => bases.get(r.reason ?? '')!);
          if (grounds.some((b) => (TIER_RULES as readonly string[]).includes(b.rule))) continue;
          const ground = grounds.find((b) => b.rule === 'own-contribution') ?? grounds.find((b) => b.rule === 'author');
          if (!ground) throw new Error('an entry no rule releases reached the response');
          const tier = entry.tier as Tier;
          if (!perEntry.some((b) => b.rule === ground.rule && b.tier === tier)) perEntry.push({ tier, rule: ground.rule });
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
      breakGlass: tierBasis.some((b) => b.rule === 'break-glass'),
    };
  }
}

/**
 * Whether a grant could release this entry: the same test as the record statement's SQL filter.
 * It only narrows what the CASL rules (built from the same grants) are asked; it never releases.
 */
function grantCovers(g: EntryGrant, entry: EntryFacts): boolean {
  return (
    (g.tiers as string[]).includes(entry.tier) &&
    (!g.agencyIds || g.agencyIds.includes(entry.agencyId)) &&
    (!g.authorUserId || g.authorUserId === entry.authorUserId) &&
    entry.sensitivity.every((c) => (g.categories as string[]).includes(c))
  );
}

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

/** What the policy needs to know of one entry. */
export interface EntryFacts {
  tier: string;
  sensitivity: string[];
  agencyId: string;
  authorUserId: string;
}

export interface AccessBlock {
  tier: Tier;
  basis: Basis[];
  withheld: Tier[];
  notices?: Notice[];
}

export interface TierDecision {
  /** The grounds on which entries are released, for the SQL filter; `canSeeEntry` checks every row against them and the policy. */
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
