import type { Principal } from '../auth/principal.js';
import type { Basis } from '../audit/vocabulary.js';
import type { SubjectContext } from './context.js';
import { ownContributionOf, principalCeiling, roleRule, type Policy } from './policy.js';
import { SENSITIVE_CATEGORIES, TIERS, tierRank, type SensitiveCategory, type Tier } from './vocabulary.js';

/**
 * The release rule: on which grounds a principal gets a person's entries, and which entries each
 * ground releases. It is written once, here; the record read's SQL filter (`releaseFilterSql`)
 * and its check of every row (`releases`) are both generated from `RELEASE_CONDITIONS`, and the
 * `access.basis` is read off the grants themselves. CASL (ability.ts) answers the questions of
 * action and instance (may this role read people at all, this case, this consent), not this one.
 */

/** What the rule needs to know of one entry (no content: nothing that leaves). */
export interface EntryFacts {
  tier: string;
  sensitivity: string[];
  agencyId: string;
  authorUserId: string;
}

/**
 * One ground on which entries of one person are released to this principal: whose entries
 * (contributing agencies, or one author), which tiers, and which sensitive categories besides
 * unlabelled entries.
 */
export interface EntryGrant {
  basis: Basis;
  /**
   * Whether the grant opens the record at its tiers as such (a consent, a case, break-glass), so
   * that the access block names it once per tier; an own-contribution or author grant releases
   * its entries only, and is named per tier of what it carried.
   */
  opensRecord: boolean;
  tiers: Tier[];
  /** Contributing agencies whose entries this grant releases; undefined for every agency. */
  agencyIds?: string[];
  /** Only the entries this user wrote (psychotherapy notes: author only). */
  authorUserId?: string;
  /** Sensitive labels an entry may carry and still be released. */
  categories: SensitiveCategory[];
}

/** The grant fields a condition reads: `RELEASE_CONDITIONS` has one row for each. */
type GrantField = 'tiers' | 'agencyIds' | 'authorUserId' | 'categories';

/** A way of comparing an entry's fact with a grant's field: in SQL over two expressions, and in memory. */
interface Test {
  sql(entry: string, grant: string): string;
  holds(entry: unknown, grant: unknown): boolean;
}
/** The entry's value is one of the grant's. */
const oneOf: Test = {
  sql: (e, g) => `${e} = ANY (${g})`,
  holds: (e, g) => Array.isArray(g) && g.includes(e),
};
/** As `oneOf`, and a grant without the field does not narrow. */
const oneOfUnlessOpen: Test = {
  sql: (e, g) => `(${g} IS NULL OR ${e} = ANY (${g}))`,
  holds: (e, g) => g === undefined || (Array.isArray(g) && g.includes(e)),
};
/** The entry's value is the grant's, and a grant without the field does not narrow. */
const equalsUnlessOpen: Test = {
  sql: (e, g) => `(${g} IS NULL OR ${e} = ${g})`,
  holds: (e, g) => g === undefined || e === g,
};
/** Every label of the entry is one the grant names (an unlabelled entry always is). */
const labelsWithin: Test = {
  sql: (e, g) => `${e} <@ coalesce(${g}, '{}')`,
  holds: (e, g) => Array.isArray(e) && e.every((label) => Array.isArray(g) && g.includes(label)),
};

/**
 * What a grant releases: an entry of the person for which every condition holds. Each row is a
 * grant field, the entry fact and column it is compared with, the field's SQL type (the grants
 * reach the statement as one JSON parameter) and the test.
 *
 * A further condition on what a grant releases goes here as one more row, and both encodings
 * follow: an agreement between the agencies (issue "Every release has its paper"), say, as the
 * entry kinds or purposes the agreement covers, carried on each grant of the context.
 */
const RELEASE_CONDITIONS: readonly { field: GrantField; fact: keyof EntryFacts; column: string; sqlType: string; test: Test }[] = [
  { field: 'tiers', fact: 'tier', column: 'tier', sqlType: 'text[]', test: oneOf },
  { field: 'agencyIds', fact: 'agencyId', column: 'agency_id', sqlType: 'uuid[]', test: oneOfUnlessOpen },
  { field: 'authorUserId', fact: 'authorUserId', column: 'created_by', sqlType: 'uuid', test: equalsUnlessOpen },
  { field: 'categories', fact: 'sensitivity', column: 'sensitivity', sqlType: 'text[]', test: labelsWithin },
];

/** Whether this grant releases this entry (of the person the grants were made for). */
export function releases(grant: EntryGrant, entry: EntryFacts): boolean {
  return RELEASE_CONDITIONS.every((c) => c.test.holds(entry[c.fact], grant[c.field]));
}

/**
 * The SQL condition that some grant releases the entry `entry` (an alias of clinical_entries),
 * over `param`, a parameter holding `releaseFilterParam(grants)`. The text is the same whatever
 * the grants, so the statement that embeds it is prepared and planned once.
 */
export function releaseFilterSql(entry: string, param: string): string {
  const columns = RELEASE_CONDITIONS.map((c) => `"${c.field}" ${c.sqlType}`).join(', ');
  const conditions = RELEASE_CONDITIONS.map((c) => c.test.sql(`${entry}.${c.column}`, `g."${c.field}"`)).join(' AND ');
  return `EXISTS (SELECT 1 FROM jsonb_to_recordset(${param}::jsonb) AS g(${columns}) WHERE ${conditions})`;
}

/** The grants as `releaseFilterSql`'s parameter: one JSON element per grant, the conditions' fields only. */
export function releaseFilterParam(grants: EntryGrant[]): string {
  return JSON.stringify(grants.map((g) => Object.fromEntries(RELEASE_CONDITIONS.map((c) => [c.field, g[c.field]]))));
}

/**
 * The grants this principal has on one person, from the policy and the person's context, in a
 * fixed order (consents, cases, break-glass, own contribution, author). None without the `read`
 * permission and a ceiling; every tier is capped at the principal's ceiling.
 */
export function grantsFor(policy: Policy, principal: Principal, context: SubjectContext): EntryGrant[] {
  const perms = roleRule(policy, principal.agencyKind, principal.role)?.permissions ?? [];
  const ceiling = principalCeiling(policy, principal);
  if (!perms.includes('read') || !ceiling) return [];
  const upTo = (t: Tier) => TIERS.filter((x) => x !== 'basic' && tierRank(x) <= Math.min(tierRank(t), tierRank(ceiling)));
  const grants: EntryGrant[] = [];
  // A grant of whole tiers of the record (consent, case, break-glass), with the entries it releases.
  const opening = (tiers: Tier[], basis: Basis, entries: Pick<EntryGrant, 'agencyIds' | 'categories'>) => {
    if (tiers.length) grants.push({ basis, opensRecord: true, tiers, ...entries });
  };
  // A consent releases its own disclosers' entries, of its own tiers and categories only.
  for (const c of context.consents) {
    opening(
      upTo('intermediate').filter((t) => c.tiers.includes(t)),
      { rule: 'consent', consentId: c.id },
      { agencyIds: c.disclosers, categories: c.sensitiveCategories },
    );
  }
  // A case releases the participants' entries that reach this member, never a sensitive one.
  for (const k of context.openCases) {
    if (k.releasedBy.length) opening(upTo('full'), { rule: 'open-case-member', caseId: k.id }, { agencyIds: k.releasedBy, categories: [] });
  }
  // Break-glass: every agency's entries of the emergency tier, never a sensitive one.
  for (const g of context.breakGlass) opening(upTo(g.tier), { rule: 'break-glass', breakGlassId: g.id }, { categories: [] });

  // An agency's own entries, as far as the policy names them for this role (never psychotherapy notes).
  const own = ownContributionOf(policy, principal.agencyKind, principal.role);
  const ownTiers = upTo('full').filter((t) => (own.tiers as Tier[]).includes(t));
  if (ownTiers.length)
    grants.push({ basis: { rule: 'own-contribution' }, opensRecord: false, agencyIds: [principal.agencyId], tiers: ownTiers, categories: own.categories });
  // Fixed: the author of an entry reads it, psychotherapy notes included (45 CFR 164.508(a)(2)).
  if (upTo('full').length)
    grants.push({ basis: { rule: 'author' }, opensRecord: false, authorUserId: principal.userId, tiers: upTo('full'), categories: [...SENSITIVE_CATEGORIES] });
  return grants;
}
