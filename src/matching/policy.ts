// policies/matching.yaml, validated at start-up like src/authz/policy.ts: an unknown level, a
// missing reason, thresholds out of order or weights that point the wrong way fail fast.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import { fromPackageRoot } from '../paths.js';
import { indexShortNames, shortNamesFileSchema, type ShortNames } from './nicknames.js';

/** Each comparison's levels, best first: the policy gives every one a weight and a reason. */
export const LEVELS = {
  givenName: ['exact', 'shortForm', 'sameFullName', 'oneSlip', 'shortSlip', 'similar', 'different', 'missing'],
  familyName: ['exact', 'oneSlip', 'shortSlip', 'similar', 'different', 'missing'],
  namesSwapped: ['swapped'],
  birthDate: ['exact', 'dayMonthSwapped', 'yearOffByOne', 'oneDigitOff', 'different', 'missing'],
  sex: ['agrees', 'differs', 'missing'],
  identifier: ['agrees', 'disagrees', 'missing'],
} as const;
export type Comparison = keyof typeof LEVELS;
export type Level<C extends Comparison> = (typeof LEVELS)[C][number];

// The words a reason may fill in: {input} and {candidate} are the two values compared (names as
// typed, dates), {short}/{full} the two given names of a short form, {system} an identifier's system.
const PLACEHOLDERS = ['input', 'candidate', 'short', 'full', 'system'] as const;
const reason = z
  .string()
  .min(3)
  .max(160)
  .refine((r) => [...r.matchAll(/\{(\w+)\}/g)].every((m) => (PLACEHOLDERS as readonly string[]).includes(m[1]!)), {
    message: `a reason may only fill in ${PLACEHOLDERS.map((p) => `{${p}}`).join(', ')}`,
  });
/** A level's Fellegi-Sunter match weight in bits (log2 of m/u), and the words that explain it. */
const levelSchema = z.strictObject({ weight: z.number().min(-40).max(40), reason });
export type LevelRule = z.infer<typeof levelSchema>;

function levelsSchema<const K extends readonly string[]>(keys: K) {
  return z.strictObject(Object.fromEntries(keys.map((k) => [k, levelSchema])) as { [P in K[number]]: typeof levelSchema });
}

const probability = z.number().gt(0).lt(1);
const matchingSchema = z.strictObject({
  // log2 of the prior odds that a blocked candidate is the same person; the weights add to it.
  prior: z.number().min(-60).max(0),
  thresholds: z.strictObject({ certain: probability, probable: probability, possible: probability }),
  // One-letter tolerance (oneSlip) only when both names have at least this many letters (CMS).
  slipMinLength: z.number().int().min(3).max(10),
  // Jaro-Winkler at or above which names that are more than a slip apart count as similar.
  similarJaroWinkler: z.number().min(0.7).max(0.99),
  // The short-name table, relative to this file.
  shortNames: z.string().regex(/^[\w.-]+\.ya?ml$/),
  comparisons: z.strictObject({
    givenName: levelsSchema(LEVELS.givenName),
    familyName: levelsSchema(LEVELS.familyName),
    namesSwapped: levelsSchema(LEVELS.namesSwapped),
    birthDate: levelsSchema(LEVELS.birthDate),
    sex: levelsSchema(LEVELS.sex),
    identifier: levelsSchema(LEVELS.identifier),
  }),
  // Said of each of two or more candidates that would each be certain: then none is (Medplum, CMS).
  notUniqueReason: reason,
});

export type MatchingRules = z.infer<typeof matchingSchema>;
export interface MatchPolicy extends MatchingRules {
  readonly shortNameTable: ShortNames;
}

export const DEFAULT_MATCHING_POLICY_FILE = fromPackageRoot('policies', 'matching.yaml');

/** Weights must point the right way, whatever their size: agreement for, disagreement against. */
function checkDirections(rules: MatchingRules): string[] {
  const c = rules.comparisons;
  const problems: string[] = [];
  const t = rules.thresholds;
  if (!(t.certain > t.probable && t.probable > t.possible)) problems.push('thresholds must rise: possible < probable < certain');
  const positive = [
    ['givenName.exact', c.givenName.exact],
    ['familyName.exact', c.familyName.exact],
    ['birthDate.exact', c.birthDate.exact],
    ['identifier.agrees', c.identifier.agrees],
  ] as const;
  const negative = [
    ['givenName.different', c.givenName.different],
    ['familyName.different', c.familyName.different],
    ['birthDate.different', c.birthDate.different],
    ['sex.differs', c.sex.differs],
    ['identifier.disagrees', c.identifier.disagrees],
  ] as const;
  for (const [name, l] of positive) if (l.weight <= 0) problems.push(`${name} must weigh for a match (weight > 0)`);
  for (const [name, l] of negative) if (l.weight >= 0) problems.push(`${name} must weigh against a match (weight < 0)`);
  const descending = (name: Comparison, levels: readonly string[]) => {
    const rules_ = c[name] as Record<string, LevelRule>;
    const w = levels.map((l) => rules_[l]!.weight);
    w.forEach((x, i) => i > 0 && x > w[0]! && problems.push(`${name}.${levels[i]} must not outweigh ${name}.${levels[0]}`));
  };
  descending('givenName', LEVELS.givenName);
  descending('familyName', LEVELS.familyName);
  descending('birthDate', LEVELS.birthDate);
  for (const name of ['givenName', 'familyName', 'birthDate', 'sex', 'identifier'] as const) {
    if ((c[name] as Record<string, LevelRule>).missing!.weight !== 0) problems.push(`${name}.missing must weigh 0: an absent fact is no evidence`);
  }
  return problems;
}

export function parseMatchingPolicy(raw: unknown, shortNamesRaw: unknown): MatchPolicy {
  const parsed = matchingSchema.safeParse(raw);
  if (!parsed.success) {
    throw new Error(`invalid matching policy: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  const problems = checkDirections(parsed.data);
  if (problems.length) throw new Error(`invalid matching policy: ${problems.join('; ')}`);
  const table = shortNamesFileSchema.safeParse(shortNamesRaw);
  if (!table.success) {
    throw new Error(`invalid short-name table: ${table.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  return { ...parsed.data, shortNameTable: indexShortNames(table.data) };
}

/** Reads and validates the matching policy and its short-name table; throws on any fault. */
export function loadMatchingPolicy(file: string = DEFAULT_MATCHING_POLICY_FILE): MatchPolicy {
  const raw = parse(readFileSync(file, 'utf8')) as unknown;
  const shortNamesFile = (raw as { shortNames?: unknown } | null)?.shortNames;
  if (typeof shortNamesFile !== 'string' || !/^[\w.-]+\.ya?ml$/.test(shortNamesFile)) {
    throw new Error('invalid matching policy: shortNames: must name a .yaml file beside the policy');
  }
  return parseMatchingPolicy(raw, parse(readFileSync(path.join(path.dirname(file), shortNamesFile), 'utf8')));
}

let defaultPolicy: MatchPolicy | undefined;
/** The default policy, loaded once (for helpers whose callers do not pass one). */
export function defaultMatchingPolicy(): MatchPolicy {
  return (defaultPolicy ??= loadMatchingPolicy());
}
