import { AbilityBuilder, createMongoAbility, type MongoAbility } from '@casl/ability';
import type { Principal } from '../auth/principal.js';
import type { Basis } from '../audit/vocabulary.js';
import type { SubjectContext } from './context.js';
import { principalCeiling, roleRule, type Policy } from './policy.js';
import { SENSITIVE_CATEGORIES, TIERS, tierRank, type Tier } from './vocabulary.js';

export type Action = 'search' | 'read' | 'create' | 'manage' | 'update';
export type SubjectType = 'Subject' | 'Entry' | 'RiskFlag' | 'Consent' | 'Case' | 'BreakGlass' | 'AuditEvent' | 'Checkpoint' | 'Admin';
export type AppAbility = MongoAbility<[Action, SubjectType | Record<string, unknown>]>;

/** Field names on 'Subject' that stand for the tiers; field-level rules grant them. */
export const tierField = (t: Tier) => `tier:${t}`;

/** An ability plus what each rule's `because()` reason stands for, for the `access.basis`. */
export interface Compiled {
  ability: AppAbility;
  bases: Map<string, Basis>;
}

/**
 * Compiles the policy for one principal (and, for instance decisions, one person's context) into
 * CASL rules. Fixed protocol rules live here; what varies by agency kind and role comes from
 * `policies/`. A principal whose role the policy does not know gets an empty ability.
 */
export function compileAbility(policy: Policy, principal: Principal, context?: SubjectContext): Compiled {
  const { can, build } = new AbilityBuilder<AppAbility>(createMongoAbility);
  const bases = new Map<string, Basis>();
  const because = (basis: Basis) => {
    const key = [basis.tier, basis.rule, basis.consentId ?? basis.caseId ?? basis.breakGlassId ?? ''].join(':');
    bases.set(key, basis);
    return key;
  };
  const rule = roleRule(policy, principal.agencyKind, principal.role);
  const perms = new Set(rule?.permissions ?? []);
  const ceiling = principalCeiling(policy, principal);

  if (perms.has('read') && ceiling) {
    can('search', 'Subject').because(because({ rule: 'partner-read' }));
    can('read', 'Subject', [tierField('basic')]).because(because({ tier: 'basic', rule: 'partner-read' }));
  }
  if (perms.has('contribute-subject')) can('create', 'Subject').because('contribute-subject');
  if (perms.has('contribute-risk-flag')) can('create', 'RiskFlag').because('contribute-risk-flag');
  if (perms.has('contribute-entry')) can('create', 'Entry').because('contribute-entry');
  if (perms.has('manage-consent')) can('manage', 'Consent').because('manage-consent');
  if (perms.has('manage-case')) {
    can('create', 'Case').because('manage-case');
    can('update', 'Case', { memberIds: principal.userId, status: 'open' }).because('case-member');
  }
  if (perms.has('break-glass')) can('create', 'BreakGlass').because('break-glass');
  if (perms.has('audit')) can('read', 'AuditEvent').because('audit');
  // Signed checkpoints hold no person data: partners verify them as compliance does.
  if (perms.has('audit') || (perms.has('read') && ceiling)) can('read', 'Checkpoint').because('checkpoint-read');
  if (perms.has('admin')) can('manage', 'Admin').because('admin');

  if (context && perms.has('read') && ceiling) {
    const id = context.subjectId;
    const upTo = (t: Tier) => TIERS.filter((x) => x !== 'basic' && tierRank(x) <= Math.min(tierRank(t), tierRank(ceiling)));
    const granted = new Set<Tier>();
    const grant = (tiers: Tier[], basis: Omit<Basis, 'tier'>) => {
      for (const tier of tiers) {
        granted.add(tier);
        can('read', 'Subject', [tierField(tier)], { id }).because(because({ tier, ...basis }));
      }
    };
    for (const c of context.consents)
      grant(
        upTo('intermediate').filter((t) => c.tiers.includes(t)),
        { rule: 'consent', consentId: c.id },
      );
    for (const caseId of context.openCaseIds) grant(upTo('full'), { rule: 'open-case-member', caseId });
    for (const g of context.breakGlass) grant(upTo(g.tier), { rule: 'break-glass', breakGlassId: g.id });

    // Sensitive categories stay withheld at every tier unless a consent naming us lists them.
    const released = new Set(context.consents.flatMap((c) => c.sensitiveCategories));
    const withheld = SENSITIVE_CATEGORIES.filter((c) => !released.has(c));
    for (const tier of granted) {
      const conditions = withheld.length ? { subjectId: id, tier, sensitivity: { $nin: withheld } } : { subjectId: id, tier };
      can('read', 'Entry', conditions).because(`entry-tier:${tier}`);
    }
    // An agency sees what it contributed itself, within the role's ceiling.
    can('read', 'Entry', { subjectId: id, agencyId: principal.agencyId, tier: { $in: upTo('full') } }).because('own-contribution');
  }
  return { ability: build(), bases };
}
