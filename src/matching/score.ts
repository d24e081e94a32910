// Fellegi-Sunter scoring (as Splink does it): each comparison's level adds its match weight in
// bits to the prior; the total becomes a probability, the score; the grade is a threshold on it
// (Medplum's certain / probable / possible); and the reasons are the same levels' words.
import { compareBirthDate, compareFamilyName, compareGivenName, compareIdentifiers, compareSex, type Outcome } from './comparisons.js';
import type { LevelRule, MatchPolicy } from './policy.js';

export interface PersonFacts {
  givenName: string;
  familyName: string;
  birthDate: string; // YYYY-MM-DD
  sex?: string | null;
  identifiers?: { system: string; value: string }[];
}
export type Grade = 'certain' | 'probable' | 'possible';
export interface Scored {
  score: number; // 0..1
  grade: Grade | null; // null: below possible
  reasons: string[];
}
/** A candidate the ranking kept: at least possible. */
export type Ranked = Scored & { grade: Grade };
export interface SearchQuery {
  name: string;
  birthDate: string;
}

function rule(o: Outcome, policy: MatchPolicy): LevelRule {
  return (policy.comparisons[o.comparison] as Record<string, LevelRule>)[o.level]!;
}
const weightOf = (outcomes: Outcome[], policy: MatchPolicy) => outcomes.reduce((sum, o) => sum + rule(o, policy).weight, 0);
const reasonOf = (o: Outcome, policy: MatchPolicy) => rule(o, policy).reason.replace(/\{(\w+)\}/g, (_, k: string) => o.words?.[k as 'input'] ?? '');

const SWAPPED: Outcome<'namesSwapped'> = { comparison: 'namesSwapped', level: 'swapped' };

/**
 * The name comparisons as typed, or crossed (given against family and family against given, with
 * the namesSwapped level) when crossing explains the names better (Splink's columns reversed).
 */
function compareNames(input: PersonFacts, candidate: PersonFacts, policy: MatchPolicy): Outcome[] {
  const direct = [compareGivenName(input.givenName, candidate.givenName, policy), compareFamilyName(input.familyName, candidate.familyName, policy)];
  const crossed = [SWAPPED, compareGivenName(input.familyName, candidate.givenName, policy), compareFamilyName(input.givenName, candidate.familyName, policy)];
  return weightOf(crossed, policy) > weightOf(direct, policy) ? crossed : direct;
}

export function gradeOf(score: number, policy: MatchPolicy): Grade | null {
  const t = policy.thresholds;
  return score >= t.certain ? 'certain' : score >= t.probable ? 'probable' : score >= t.possible ? 'possible' : null;
}

function scored(outcomes: Outcome[], policy: MatchPolicy): Scored {
  const bits = policy.prior + weightOf(outcomes, policy);
  const score = Math.round(10_000 / (1 + 2 ** -bits)) / 10_000;
  // A level that weighs nothing (a fact missing on one side) says nothing worth reading.
  const reasons = outcomes.filter((o) => rule(o, policy).weight !== 0).map((o) => reasonOf(o, policy));
  return { score, grade: gradeOf(score, policy), reasons };
}

/**
 * How well `candidate` matches the person `input` describes. The grade here is the threshold's
 * alone; rankCandidates adds the rule that certain needs a unique candidate.
 */
export function scorePair(input: PersonFacts, candidate: PersonFacts, policy: MatchPolicy): Scored {
  return scored(
    [
      ...compareNames(input, candidate, policy),
      compareBirthDate(input.birthDate, candidate.birthDate),
      compareSex(input.sex, candidate.sex),
      compareIdentifiers(input.identifiers, candidate.identifiers),
    ],
    policy,
  );
}

/**
 * A search by one `name` (a family name, a given name, or both in either order, "Lovelace, Ada"
 * too) and a birth date. Each way of reading the name is scored (one word as the given or the
 * family name; words split at every gap, given first or family first; all of it as one name)
 * and the best reading counts. A name the query leaves out is no evidence either way.
 */
export function scoreSearch(query: SearchQuery, candidate: PersonFacts, policy: MatchPolicy): Scored {
  const words = query.name.split(/[\s,]+/).filter((w) => w.length > 0);
  const whole = words.join(' ');
  const readings: Outcome[][] = [[compareGivenName(whole, candidate.givenName, policy)], [compareFamilyName(whole, candidate.familyName, policy)]];
  for (let i = 1; i < words.length; i++) {
    const [head, tail] = [words.slice(0, i).join(' '), words.slice(i).join(' ')];
    readings.push([compareGivenName(head, candidate.givenName, policy), compareFamilyName(tail, candidate.familyName, policy)]);
    readings.push([compareGivenName(tail, candidate.givenName, policy), compareFamilyName(head, candidate.familyName, policy)]);
  }
  const best = readings.reduce((a, b) => (weightOf(b, policy) > weightOf(a, policy) ? b : a));
  return scored([...best, compareBirthDate(query.birthDate, candidate.birthDate)], policy);
}

/** Best first, below possible dropped, and certain only when unique: two certain both become probable. */
function rank<T>(scoredCandidates: (Scored & { candidate: T })[], policy: MatchPolicy): (Ranked & { candidate: T })[] {
  const kept = scoredCandidates.filter((s): s is Ranked & { candidate: T } => s.grade !== null).sort((a, b) => b.score - a.score);
  if (kept.filter((s) => s.grade === 'certain').length > 1) {
    for (const s of kept) {
      if (s.grade === 'certain') {
        s.grade = 'probable';
        s.reasons.push(policy.notUniqueReason);
      }
    }
  }
  return kept;
}

export function rankCandidates<T extends PersonFacts>(input: PersonFacts, candidates: T[], policy: MatchPolicy): (Ranked & { candidate: T })[] {
  return rank(
    candidates.map((candidate) => ({ ...scorePair(input, candidate, policy), candidate })),
    policy,
  );
}

/** rankCandidates for a search: the same order, threshold and uniqueness rule. */
export function rankSearch<T extends PersonFacts>(query: SearchQuery, candidates: T[], policy: MatchPolicy): (Ranked & { candidate: T })[] {
  return rank(
    candidates.map((candidate) => ({ ...scoreSearch(query, candidate, policy), candidate })),
    policy,
  );
}
