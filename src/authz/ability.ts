import { AbilityBuilder, createMongoAbility, type MongoAbility } from '@casl/ability';
import type { Principal } from '../auth/principal.js';
import type { Basis } from '../audit/vocabulary.js';
import type { SubjectContext } from './context.js';
import { ownContributionOf, principalCeiling, roleRule, type Policy } from './policy.js';
import { SENSITIVE_CATEGORIES, TIERS, tierRank, type SensitiveCategory, type Tier } from './vocabulary.js';

export type Action = 'search' | 'read' | 'create' | 'manage' | 'update' | 'close' | 'remove' | 'join' | 'revoke';
export type SubjectType =
  'Subject' | 'Identifier' | 'Entry' | 'RiskFlag' | 'Consent' | 'Case' | 'CaseMember' | 'BreakGlass' | 'AuditEvent' | 'Checkpoint' | 'Admin';
export type AppAbility = MongoAbility<[Action, SubjectType | Record<string, unknown>]>;

/** Field names on 'Subject' that stand for the tiers; field-level rules grant them. */
export const tierField = (t: Tier) => `tier:${t}`;

/**
 * One ground on which entries of one person are released to this principal: whose entries
 * (contributing agencies, or one author), which tiers, and which sensitive categories besides
 * unlabelled entries. The CASL rules and the SQL filter are both built from this list.
 */
export interface EntryGrant {
  basis: Basis;
  /** Contributing agencies whose entries this grant releases; undefined for every agency. */
  agencyIds?: string[];
  /** Only the entries this user wrote (psychotherapy notes: author only). */
  authorUserId?: string;
  tiers: Tier[];
  /** Sensitive labels an entry may carry and still be released. */
  categories: SensitiveCategory[];
}

/** An ability plus what each rule's `because()` reason stands for, for the `access.basis`. */
export interface Compiled {
  ability: AppAbility;
  bases: Map<string, Basis>;
  /** The entry grants of a person's context (empty without one). */
  entryGrants: EntryGrant[];
}

/** Rules whose basis says which of the person's tiers were granted outright (not per entry). */
export const TIER_RULES = ['partner-read', 'consent', 'open-case-member', 'break-glass'] as const;

/**
 * Compiles the policy for one principal (and, for instance decisions, one person's context) into
 * CASL rules. Fixed protocol rules live here; what varies by agency kind and role comes from
 * `policies/`. A principal whose role the policy does not know gets an empty ability.
 */
export function compileAbility(policy: Policy, principal: Principal, context?: SubjectContext): Compiled {
  const { can, build } = new AbilityBuilder<AppAbility>(createMongoAbility);
  const bases = new Map<string, Basis>();
  const entryGrants: EntryGrant[] = [];
  const because = (basis: Basis) => {
    const key = [basis.tier, basis.rule, basis.consentId ?? basis.caseId ?? basis.breakGlassId ?? ''].join(':');
    bases.set(key, basis);
    return key;
  };
  const rule = roleRule(policy, principal.agencyKind, principal.role);
  const perms = new Set(rule?.permissions ?? []);
  const ceiling = principalCeiling(policy, principal);
  const me = { userId: principal.userId, agencyId: principal.agencyId };

  if (perms.has('read') && ceiling) {
    can('search', 'Subject').because(because({ rule: 'partner-read' }));
    can('read', 'Subject', [tierField('basic')]).because(because({ tier: 'basic', rule: 'partner-read' }));
  }
  if (perms.has('contribute-subject')) can('create', 'Subject').because('contribute-subject');
  // An agency's own identifiers only: the route adds them in the caller's agency's system.
  if (perms.has('contribute-identifier')) can('create', 'Identifier').because('contribute-identifier');
  if (perms.has('contribute-risk-flag')) can('create', 'RiskFlag').because('contribute-risk-flag');
  if (perms.has('contribute-entry')) can('create', 'Entry').because('contribute-entry');
  if (perms.has('manage-consent')) {
    can('create', 'Consent').because('manage-consent');
    // A listing shows the consents the caller's agency recorded or is named in; see consents/service.
    can('read', 'Consent').because('manage-consent');
    // Only a clinician of a discloser agency revokes: the data owner withdraws its own release.
    can('revoke', 'Consent', { disclosers: me.agencyId }).because('consent-discloser');
  }
  if (perms.has('manage-case')) {
    can('create', 'Case').because('manage-case');
    can('update', 'Case', { memberIds: me.userId, status: 'open' }).because('case-member');
    // The owning agency (the opener's) closes; a member removes members of its own agency, or itself.
    can('close', 'Case', { memberIds: me.userId, status: 'open', agencyId: me.agencyId }).because('case-owner');
    can('remove', 'CaseMember', { memberIds: me.userId, status: 'open', memberAgencyId: me.agencyId }).because('case-member-own-agency');
    can('remove', 'CaseMember', { memberIds: me.userId, status: 'open', memberUserId: me.userId }).because('case-member-self');
    // Joining a case from one's agency brings that agency's records in; once per agency.
    can('join', 'Case', { memberIds: me.userId, status: 'open', participantIds: { $ne: me.agencyId } }).because('case-member');
  }
  if (perms.has('break-glass')) can('create', 'BreakGlass').because('break-glass');
  if (perms.has('audit')) can('read', 'AuditEvent').because('audit');
  // Signed checkpoints hold no person data: partners verify them as compliance does.
  if (perms.has('audit') || (perms.has('read') && ceiling)) can('read', 'Checkpoint').because('checkpoint-read');
  if (perms.has('admin')) can('manage', 'Admin').because('admin');

  if (context && perms.has('read') && ceiling) {
    const id = context.subjectId;
    const upTo = (t: Tier) => TIERS.filter((x) => x !== 'basic' && tierRank(x) <= Math.min(tierRank(t), tierRank(ceiling)));
    // A grant of whole tiers of the record (consent, case, break-glass) and the entries it releases.
    const grant = (tiers: Tier[], basis: Omit<Basis, 'tier'>, entries: Omit<EntryGrant, 'basis' | 'tiers'>) => {
      if (tiers.length === 0) return;
      for (const tier of tiers) can('read', 'Subject', [tierField(tier)], { id }).because(because({ tier, ...basis }));
      entryGrants.push({ basis, tiers, ...entries });
    };
    // A consent releases its own disclosers' entries, of its own tiers and categories only.
    for (const c of context.consents) {
      grant(
        upTo('intermediate').filter((t) => c.tiers.includes(t)),
        { rule: 'consent', consentId: c.id },
        { agencyIds: c.disclosers, categories: c.sensitiveCategories },
      );
    }
    // A case releases the participants' entries that reach this member, never a sensitive one.
    for (const k of context.openCases) {
      if (k.releasedBy.length) grant(upTo('full'), { rule: 'open-case-member', caseId: k.id }, { agencyIds: k.releasedBy, categories: [] });
    }
    // Break-glass: every agency's entries of the emergency tier, never a sensitive one.
    for (const g of context.breakGlass) grant(upTo(g.tier), { rule: 'break-glass', breakGlassId: g.id }, { categories: [] });

    // An agency's own entries, as far as the policy names them for this role (never psychotherapy notes).
    const own = ownContributionOf(policy, principal.agencyKind, principal.role);
    const ownTiers = upTo('full').filter((t) => (own.tiers as Tier[]).includes(t));
    if (ownTiers.length) entryGrants.push({ basis: { rule: 'own-contribution' }, agencyIds: [me.agencyId], tiers: ownTiers, categories: own.categories });
    // Fixed: the author of an entry reads it, psychotherapy notes included (45 CFR 164.508(a)(2)).
    if (upTo('full').length)
      entryGrants.push({ basis: { rule: 'author' }, authorUserId: me.userId, tiers: upTo('full'), categories: [...SENSITIVE_CATEGORIES] });

    for (const g of entryGrants) {
      const withheld = SENSITIVE_CATEGORIES.filter((c) => !g.categories.includes(c));
      can('read', 'Entry', {
        subjectId: id,
        tier: { $in: g.tiers },
        ...(g.agencyIds ? { agencyId: { $in: g.agencyIds } } : {}),
        ...(g.authorUserId ? { authorUserId: g.authorUserId } : {}),
        ...(withheld.length ? { sensitivity: { $nin: withheld } } : {}),
      }).because(because(g.basis));
    }
  }
  return { ability: build(), bases, entryGrants };
}
