// The protocol's fixed words. Policies and request schemas are validated against these tables,
// so an unknown tier, kind or category fails at start-up or with a 400, never silently.
export const TIERS = ['basic', 'intermediate', 'full'] as const;
export type Tier = (typeof TIERS)[number];
/** Tiers a clinical entry can carry; basic facts live in the subject and its risk flags. */
export const ENTRY_TIERS = ['intermediate', 'full'] as const satisfies readonly Tier[];
export const tierRank = (t: Tier): number => TIERS.indexOf(t);

export const AGENCY_KINDS = ['police', 'mental_health', 'hospital', 'gateway'] as const;
export type AgencyKind = (typeof AGENCY_KINDS)[number];

/** 42 CFR Part 2 substance-use treatment and psychotherapy notes: need a consent that names them. */
export const SENSITIVE_CATEGORIES = ['substance-use', 'psychotherapy-notes'] as const;
export type SensitiveCategory = (typeof SENSITIVE_CATEGORIES)[number];

export const ENTRY_KINDS = ['diagnosis', 'treatment', 'crisis-plan', 'note', 'contact'] as const;
export const RISK_SEVERITIES = ['low', 'medium', 'high'] as const;
export const SEXES = ['female', 'male', 'other', 'unknown'] as const;
