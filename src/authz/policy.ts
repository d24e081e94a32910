import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from 'zod';
import { AUDIT_ACTIONS as A } from '../audit/vocabulary.js';
import { fromPackageRoot } from '../paths.js';
import { AGENCY_KINDS, ENTRY_TIERS, SENSITIVE_CATEGORIES, TIERS, tierRank, type AgencyKind, type Tier } from './vocabulary.js';

export const PERMISSIONS = [
  'read',
  'contribute-subject',
  'contribute-identifier',
  'contribute-risk-flag',
  'contribute-entry',
  'manage-consent',
  'manage-case',
  'break-glass',
  'audit',
  'admin',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

// Which of its own agency's entries a role sees without consent or case (SPEC principles 6, 9):
// the tiers, and the sensitive categories besides. Psychotherapy notes are not listed here: they
// are read by their author alone, a rule fixed in code (src/authz/release.ts).
const ownContributionSchema = z.strictObject({
  tiers: z.array(z.enum(ENTRY_TIERS)),
  categories: z.array(
    z.enum(SENSITIVE_CATEGORIES).refine((c) => c !== 'psychotherapy-notes', 'psychotherapy notes are read by their author alone; no role may be given them'),
  ),
});

const roleSchema = z.strictObject({
  permissions: z.array(z.enum(PERMISSIONS)).nonempty(),
  ceiling: z.enum([...TIERS, 'none']),
  ownContribution: ownContributionSchema.optional(),
});

/** Logged actions that disclose person data; the policy picks which of them the accounting counts. */
export const DISCLOSING_ACTIONS = [A.subjectRead, A.subjectSearch, A.subjectMatch, A.riskFlagRead, A.consentRead] as const;
const purposeCode = z
  .string()
  .regex(/^[a-z0-9]+(-[a-z0-9]+)*$/, 'must be a purpose code like care-coordination')
  .max(64);

// The accounting of disclosures (45 CFR 164.528): what counts, what is exempt, and why it was disclosed.
const disclosuresSchema = z.strictObject({
  count: z.array(z.enum(DISCLOSING_ACTIONS)).nonempty(),
  exemptRecipientAgencies: z.enum(['sameAsContributor', 'none']),
  exemptRecipientKinds: z.array(z.enum(AGENCY_KINDS)),
  exemptPurposes: z.array(purposeCode),
  purposes: z.strictObject({
    'open-case-member': purposeCode,
    'break-glass': purposeCode,
    // By the recipient's agency kind, else `default`.
    'partner-read': z.strictObject({
      default: purposeCode,
      police: purposeCode.optional(),
      mental_health: purposeCode.optional(),
      hospital: purposeCode.optional(),
      gateway: purposeCode.optional(),
    } satisfies Record<AgencyKind | 'default', z.ZodType>),
  }),
  purposeOfUse: z.record(purposeCode, z.string().regex(/^[A-Z]+$/, 'must be a v3-ActReason code like TREAT')),
});

const policySchema = z.strictObject({
  permissions: z.record(z.enum(PERMISSIONS), z.string()),
  roles: z.partialRecord(z.enum(AGENCY_KINDS), z.record(z.string().regex(/^[a-z][a-z_]*$/), roleSchema)),
  breakGlass: z.strictObject({
    tier: z.enum(ENTRY_TIERS),
    minutes: z
      .number()
      .int()
      .min(5)
      .max(24 * 60),
    minReasonLength: z.number().int().min(1),
    // A reason carries real words: at least this many different words of two letters or more.
    minReasonWords: z.number().int().min(1).max(20).default(3),
    // Declarations (renewals included) one user may make in any 24 hours.
    maxPerDay: z.number().int().min(1).max(100).default(5),
  }),
  disclosures: disclosuresSchema,
  // Signed checkpoints of the access log: at most one per interval, and only when entries were
  // sealed since the last one. Reads never sign (each read is itself logged, so the log always grows).
  checkpoints: z.strictObject({ everySeconds: z.number().int().min(1).max(86_400) }).default({ everySeconds: 60 }),
});

export type RolePolicy = z.infer<typeof roleSchema>;
export type OwnContribution = z.infer<typeof ownContributionSchema>;
export type Policy = z.infer<typeof policySchema>;
export type DisclosurePolicy = Policy['disclosures'];
export type CheckpointPolicy = Policy['checkpoints'];

export const DEFAULT_POLICY_FILE = fromPackageRoot('policies', 'protocol.yaml');

/** Reads and validates the protocol; any unknown word fails start-up with the offending path. */
export function loadPolicy(file = DEFAULT_POLICY_FILE): Policy {
  return parsePolicy(parse(readFileSync(file, 'utf8')));
}

export function parsePolicy(raw: unknown): Policy {
  const parsed = policySchema.safeParse(raw);
  if (!parsed.success) {
    throw new Error(`invalid policy: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  for (const [kind, roles] of Object.entries(parsed.data.roles)) {
    for (const [role, rule] of Object.entries(roles ?? {})) {
      const readsPersonData = rule.permissions.some((p) => p !== 'audit' && p !== 'admin');
      if (readsPersonData && rule.ceiling === 'none') throw new Error(`invalid policy: ${kind}.${role} handles person data but has ceiling none`);
      if (!readsPersonData && rule.ceiling !== 'none') throw new Error(`invalid policy: ${kind}.${role} reads no person data; its ceiling must be none`);
      const own = rule.ownContribution;
      if (own && rule.ceiling === 'none' && (own.tiers.length || own.categories.length)) {
        throw new Error(`invalid policy: ${kind}.${role} reads no person data; it can have no ownContribution`);
      }
      const above = own?.tiers.find((t) => rule.ceiling === 'none' || tierRank(t) > tierRank(rule.ceiling as Tier));
      if (above) throw new Error(`invalid policy: ${kind}.${role}.ownContribution lists ${above}, above the role's ceiling`);
    }
  }
  return parsed.data;
}

/** The rule of a role, or undefined: an unknown role gets nothing (default deny). */
export function roleRule(policy: Policy, kind: AgencyKind, role: string): RolePolicy | undefined {
  return policy.roles[kind]?.[role];
}

export function isKnownRole(policy: Policy, kind: AgencyKind, role: string): boolean {
  return roleRule(policy, kind, role) !== undefined;
}

/** Which of its own agency's entries this role sees; nothing when the policy names nothing. */
export function ownContributionOf(policy: Policy, kind: AgencyKind, role: string): OwnContribution {
  return roleRule(policy, kind, role)?.ownContribution ?? { tiers: [], categories: [] };
}

export function ceilingOf(rule: RolePolicy | undefined): Tier | undefined {
  return rule && rule.ceiling !== 'none' ? rule.ceiling : undefined;
}

/**
 * The highest tier this principal may ever receive: its role's ceiling, lowered to the client's
 * own role's ceiling when a machine client acts for the user (a client never lifts a user, nor a
 * user a client). An unknown client role caps at nothing (default deny).
 */
export function principalCeiling(policy: Policy, principal: { agencyKind: AgencyKind; role: string; clientRole?: string }): Tier | undefined {
  const own = ceilingOf(roleRule(policy, principal.agencyKind, principal.role));
  if (principal.clientRole === undefined || own === undefined) return own;
  const client = ceilingOf(roleRule(policy, principal.agencyKind, principal.clientRole));
  if (client === undefined) return undefined;
  return TIERS[Math.min(TIERS.indexOf(own), TIERS.indexOf(client))];
}
