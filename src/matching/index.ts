// The matcher: who in a set of candidates is probably the person described (issue 20, SPEC "One
// person, one record"). The database finds the candidates (blocking, in SQL: the birth-date
// variants and name keys below); this module scores and ranks them.
//
// What it takes from whom:
// - Medplum's Patient $match (packages/server/src/fhir/operations/patientmatch.ts and
//   utils/cms-patient-match.ts, the CMS patient-matching combinations): names folded for case,
//   accents, punctuation and spaces (foldString, our nameKey); a one-letter tolerance (restricted
//   Damerau-Levenshtein <= 1) only on strings of 5 letters or more; grades certain / probable /
//   possible by thresholds; certain only for a unique candidate; an agreeing identifier as the
//   strongest evidence.
// - HAPI FHIR MDM rules: candidate search first (blocking), then field comparisons, each field a
//   named matcher (exact, nickname table, Jaro-Winkler similarity), combined into a match result.
// - Splink (moj-analytical-services/splink): Fellegi-Sunter scoring, a match weight in bits per
//   comparison level added to a prior and turned into a probability; NameComparison's levels
//   (exact, Jaro-Winkler thresholds); ForenameSurnameComparison's "columns reversed" level (names
//   swapped); DateOfBirthComparison's one-character slip level, to which we add the day and month
//   swapped and the year one off that other agencies' forms produce.
// What we chose ourselves: short names (< 5 letters) one slip apart reach a weaker level of their
// own (shortSlip) instead of none, so "Ada"/"Adq" is probable at best, never certain; and the
// weights are set for twins, parents and children and namesakes (bench/matching-accuracy.ts).
export { birthDateVariants, parseBirthDate } from './dates.js';
export { givenNameEquivalents } from './equivalents.js';
export { identifierKey, nameKey } from './normalize.js';
export { DEFAULT_MATCHING_POLICY_FILE, LEVELS, defaultMatchingPolicy, loadMatchingPolicy, parseMatchingPolicy, type MatchPolicy } from './policy.js';
export {
  gradeOf,
  rankCandidates,
  rankSearch,
  scorePair,
  scoreSearch,
  type Grade,
  type PersonFacts,
  type Ranked,
  type Scored,
  type SearchQuery,
} from './score.js';
