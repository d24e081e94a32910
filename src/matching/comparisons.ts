// One small named function per comparison, each returning a level (Splink's comparison levels;
// HAPI FHIR MDM's matchFields). The weights and the words for each level are in the policy.
import { isDayMonthSwap, isOneDigitOff, isYearOffByOne, parseBirthDate } from './dates.js';
import { shortNameRelation } from './nicknames.js';
import { identifierKey, nameKey, sexKey } from './normalize.js';
import type { Comparison, Level, MatchPolicy } from './policy.js';
import { jaroWinkler, withinOneEdit } from './similarity.js';

/** A level reached, with the values its reason may fill in. */
export interface Outcome<C extends Comparison = Comparison> {
  comparison: C;
  level: Level<C>;
  words?: Partial<Record<'input' | 'candidate' | 'short' | 'full' | 'system', string>>;
}

type NameLevel = 'exact' | 'oneSlip' | 'shortSlip' | 'similar' | 'different' | 'missing';

/** The levels both names share: folded equality, one slip (long names only, per CMS), Jaro-Winkler. */
function compareNameKeys(a: string, b: string, policy: MatchPolicy): NameLevel {
  if (!a || !b) return 'missing';
  if (a === b) return 'exact';
  if (withinOneEdit(a, b)) return Math.min(a.length, b.length) >= policy.slipMinLength ? 'oneSlip' : 'shortSlip';
  return jaroWinkler(a, b) >= policy.similarJaroWinkler ? 'similar' : 'different';
}

export function compareGivenName(input: string, candidate: string, policy: MatchPolicy): Outcome<'givenName'> {
  const a = nameKey(input);
  const b = nameKey(candidate);
  const words = { input: input.trim(), candidate: candidate.trim() };
  const relation = a === b ? null : shortNameRelation(a, b, policy.shortNameTable);
  if (relation?.kind === 'shortForm') {
    const [short, full] = relation.short === 'a' ? [words.input, words.candidate] : [words.candidate, words.input];
    return { comparison: 'givenName', level: 'shortForm', words: { ...words, short, full } };
  }
  if (relation?.kind === 'sameFullName') return { comparison: 'givenName', level: 'sameFullName', words };
  return { comparison: 'givenName', level: compareNameKeys(a, b, policy), words };
}

export function compareFamilyName(input: string, candidate: string, policy: MatchPolicy): Outcome<'familyName'> {
  const words = { input: input.trim(), candidate: candidate.trim() };
  return { comparison: 'familyName', level: compareNameKeys(nameKey(input), nameKey(candidate), policy), words };
}

export function compareBirthDate(input: string, candidate: string): Outcome<'birthDate'> {
  const words = { input, candidate };
  const level: Level<'birthDate'> =
    !parseBirthDate(input) || !parseBirthDate(candidate)
      ? 'missing'
      : input === candidate
        ? 'exact'
        : isDayMonthSwap(input, candidate)
          ? 'dayMonthSwapped'
          : isYearOffByOne(input, candidate)
            ? 'yearOffByOne'
            : isOneDigitOff(input, candidate)
              ? 'oneDigitOff'
              : 'different';
  return { comparison: 'birthDate', level, words };
}

export function compareSex(input: string | null | undefined, candidate: string | null | undefined): Outcome<'sex'> {
  const a = sexKey(input);
  const b = sexKey(candidate);
  const level = a === null || b === null ? 'missing' : a === b ? 'agrees' : 'differs';
  return { comparison: 'sex', level, words: { input: input ?? '', candidate: candidate ?? '' } };
}

type Identifiers = { system: string; value: string }[] | undefined;

/**
 * Identifiers of the same system (issuing agency): a shared value is the strongest evidence for;
 * only different values in a system both carry is strong evidence against. A shared value wins
 * over a different one in another system (a person may hold numbers an agency later merged).
 */
export function compareIdentifiers(input: Identifiers, candidate: Identifiers): Outcome<'identifier'> {
  const bySystem = (ids: Identifiers) => {
    const m = new Map<string, Set<string>>();
    for (const { system, value } of ids ?? []) {
      const v = identifierKey(value);
      if (v) (m.get(system.trim()) ?? m.set(system.trim(), new Set()).get(system.trim())!).add(v);
    }
    return m;
  };
  const a = bySystem(input);
  const b = bySystem(candidate);
  let disagreeing: string | undefined;
  for (const [system, values] of a) {
    const other = b.get(system);
    if (!other) continue;
    if ([...values].some((v) => other.has(v))) return { comparison: 'identifier', level: 'agrees', words: { system } };
    disagreeing ??= system;
  }
  if (disagreeing) return { comparison: 'identifier', level: 'disagrees', words: { system: disagreeing } };
  return { comparison: 'identifier', level: 'missing' };
}
