import { mkdtempSync, readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import {
  DEFAULT_MATCHING_POLICY_FILE,
  birthDateVariants,
  givenNameEquivalents,
  loadMatchingPolicy,
  nameKey,
  rankCandidates,
  scorePair,
  scoreSearch,
  type PersonFacts,
} from '../../src/matching/index.js';

// The matcher's public API as the subjects module uses it: scores, grades, reasons, ranking with
// certain-only-when-unique, the blocking helpers, and a policy that fails fast.

const policy = loadMatchingPolicy();
const ada: PersonFacts = { givenName: 'Ada', familyName: 'Lovelace', birthDate: '1985-02-03', sex: 'female' };

describe('scorePair', () => {
  it('the same facts are certain, with every agreement in words', () => {
    const s = scorePair(ada, { ...ada }, policy);
    expect(s.grade).toBe('certain');
    expect(s.score).toBeGreaterThan(0.999);
    expect(s.reasons).toEqual(['given name agrees exactly', 'family name agrees exactly', 'birth date agrees exactly', 'sex agrees']);
  });

  it('a short form of the given name says which is which', () => {
    const s = scorePair(
      { givenName: 'Bill', familyName: 'Turing', birthDate: '1970-06-23' },
      { givenName: 'William', familyName: 'Turing', birthDate: '1970-06-23' },
      policy,
    );
    expect(s.grade).toBe('probable');
    expect(s.reasons[0]).toBe('given name Bill is a short form of William');
  });

  it('day and month swapped is probable and says so', () => {
    const s = scorePair({ ...ada, birthDate: '1985-03-02' }, ada, policy);
    expect(s.grade).toBe('probable');
    expect(s.reasons).toContain('birth date agrees with day and month swapped (1985-03-02, 1985-02-03)');
  });

  it('given and family names swapped still match, and the reason says they were swapped', () => {
    const s = scorePair({ ...ada, givenName: 'Lovelace', familyName: 'Ada' }, ada, policy);
    expect(s.grade).not.toBeNull();
    expect(['certain', 'probable']).toContain(s.grade);
    expect(s.reasons[0]).toBe('given and family names are swapped');
  });

  it('a twin (same family name and birth date, another given name) is not probable', () => {
    const s = scorePair({ ...ada, givenName: 'Grace' }, ada, policy);
    expect(s.grade === null || s.grade === 'possible').toBe(true);
    expect(s.reasons).toContain('given names differ (Grace, Ada)');
  });

  it('an agreeing identifier outweighs a slip; a different number from the same agency weighs against', () => {
    const id = (value: string) => [{ system: 'metro-police', value }];
    const agrees = scorePair({ ...ada, familyName: 'Lovelase', identifiers: id('P-20931') }, { ...ada, identifiers: id('p20931') }, policy);
    expect(agrees.grade).toBe('certain');
    expect(agrees.reasons).toContain('identifier from metro-police agrees');
    const differs = scorePair({ ...ada, identifiers: id('P-20931') }, { ...ada, identifiers: id('P-11111') }, policy);
    expect(differs.score).toBeLessThan(policy.thresholds.probable);
    expect(differs.reasons).toContain('identifiers from metro-police differ');
  });
});

describe('rankCandidates', () => {
  it('ranks best first, drops those below possible, and makes two certain candidates probable', () => {
    const other = { ...ada, id: 'b' };
    const ranked = rankCandidates(
      ada,
      [{ ...ada, familyName: 'Babbage', givenName: 'Charles', id: 'x' }, { ...ada, givenName: 'Adah', id: 'slip' }, { ...ada, id: 'a' }, other],
      policy,
    );
    expect(ranked.map((r) => r.candidate.id)).toEqual(['a', 'b', 'slip']);
    expect(ranked.map((r) => r.grade)).toEqual(['probable', 'probable', 'probable']);
    expect(ranked[0]!.reasons.at(-1)).toBe('another candidate matches as closely, so neither is certain');
    const alone = rankCandidates(ada, [{ ...ada, id: 'a' }], policy);
    expect(alone[0]!.grade).toBe('certain');
  });
});

describe('scoreSearch', () => {
  const people = [ada, { ...ada, givenName: 'Grace', familyName: 'Hopper' }, { ...ada, givenName: 'Byron', familyName: 'Lovelace', sex: 'male' }];
  const found = (name: string, birthDate = ada.birthDate) =>
    people
      .map((p) => ({ p, s: scoreSearch({ name, birthDate }, p, policy) }))
      .filter((x) => x.s.grade !== null)
      .sort((a, b) => b.s.score - a.s.score);

  it('finds "Ada" alone, "Lovelac" with one slip, and "Ada Lovelace" with day and month swapped', () => {
    expect(found('Ada').map((x) => x.p.givenName)).toEqual(['Ada']);
    expect(found('Lovelac')[0]!.p).toBe(ada);
    expect(found('Ada Lovelace', '1985-03-02').map((x) => x.p.givenName)).toEqual(['Ada']);
    expect(found('Lovelace, Ada').map((x) => x.p.givenName)).toEqual(['Ada']);
  });

  it('does not list someone else born the same day', () => {
    expect(found('Hopper').map((x) => x.p.givenName)).toEqual(['Grace']);
    expect(found('Alan Turing')).toEqual([]);
  });
});

describe('blocking helpers', () => {
  it('birthDateVariants lists the date, day and month swapped, the year either side and one-digit slips, all real dates', () => {
    const v = birthDateVariants('1985-02-03');
    expect(v).toEqual(expect.arrayContaining(['1985-02-03', '1985-03-02', '1984-02-03', '1986-02-03', '1985-02-08', '1958-02-03', '1995-02-03']));
    expect(v).not.toContain('1985-02-30');
    expect(new Set(v).size).toBe(v.length);
    expect(birthDateVariants('1985-02-30')).toEqual([]);
  });

  it('nameKey folds case, accents and punctuation; SQL mirrors it with lower(unaccent()) and regexp_replace', () => {
    expect(nameKey("  O'Brien-Núñez ")).toBe('obriennunez');
    expect(nameKey('Æsa Strauß')).toBe('aesastrauss');
    expect(nameKey('Jean Luc')).toBe('jeanluc');
  });

  it('givenNameEquivalents gives the name keys the short-name table relates', () => {
    expect(givenNameEquivalents('Bill')).toEqual(expect.arrayContaining(['bill', 'william', 'will']));
    expect(givenNameEquivalents('Peggy')).toContain('margaret');
    expect(givenNameEquivalents('Christopher')).not.toContain('christian');
    expect(givenNameEquivalents('')).toEqual([]);
  });
});

describe('the matching policy fails fast', () => {
  const withChange = (change: (raw: Record<string, any>) => void) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'matching-'));
    const raw = parse(readFileSync(DEFAULT_MATCHING_POLICY_FILE, 'utf8')) as Record<string, any>;
    change(raw);
    writeFileSync(path.join(dir, 'matching.yaml'), stringify(raw));
    copyFileSync(path.join(path.dirname(DEFAULT_MATCHING_POLICY_FILE), 'short-names.yaml'), path.join(dir, 'short-names.yaml'));
    return () => loadMatchingPolicy(path.join(dir, 'matching.yaml'));
  };

  it('the unchanged policy loads', () => expect(withChange(() => {})()).toBeTruthy());
  it('refuses a missing level', () =>
    expect(withChange((r) => delete r.comparisons.birthDate.dayMonthSwapped)).toThrow(/comparisons\.birthDate\.dayMonthSwapped/));
  it('refuses an unknown level', () =>
    expect(withChange((r) => (r.comparisons.sex.maybe = { weight: 1, reason: 'perhaps' }))).toThrow(/invalid matching policy/));
  it('refuses thresholds out of order', () => expect(withChange((r) => (r.thresholds.probable = 0.9999))).toThrow(/thresholds must rise/));
  it('refuses a disagreement that weighs for a match', () =>
    expect(withChange((r) => (r.comparisons.birthDate.different.weight = 3))).toThrow(/birthDate\.different must weigh against/));
  it('refuses a reason with an unknown placeholder', () =>
    expect(withChange((r) => (r.comparisons.sex.agrees.reason = 'sex {nope}'))).toThrow(/may only fill in/));
  it('refuses a missing short-name table', () => expect(withChange((r) => (r.shortNames = 'absent.yaml'))).toThrow(/ENOENT/));
});
