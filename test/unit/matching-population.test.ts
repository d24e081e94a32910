import { describe, expect, it } from 'vitest';
import { birthDateVariants, loadMatchingPolicy, nameKey, rankCandidates, type PersonFacts } from '../../src/matching/index.js';
import { shortNameRelation } from '../../src/matching/nicknames.js';
import { withinOneEdit } from '../../src/matching/similarity.js';
import { CORRUPTIONS, LOOK_ALIKES, prng, randomPerson, type CorruptionKind, type LookAlikeKind, type Person } from '../fixtures/population.js';

// Each corruption re-typing produces is refused with the original as the top candidate; each
// look-alike (another person) is not refused. First by a named example, then on a seeded sample
// of a synthetic population, blocked by birth-date variants as the SQL does.

const policy = loadMatchingPolicy();
const refused = (ranked: { grade: string | null }[]) => ranked.some((c) => c.grade === 'certain' || c.grade === 'probable');

const ada = { id: 'ada', givenName: 'Margaret', familyName: 'Lovelace', birthDate: '1985-02-03', sex: 'female' };
const examples: Record<CorruptionKind, PersonFacts> = {
  givenNameSlip: { ...ada, givenName: 'Margaert' },
  familyNameSlip: { ...ada, familyName: 'Lovelase' },
  accentsCasePunctuation: { ...ada, familyName: 'LOVE-LACE' },
  shortForm: { ...ada, givenName: 'Peggy' },
  namesSwapped: { ...ada, givenName: 'Lovelace', familyName: 'Margaret' },
  dayMonthSwapped: { ...ada, birthDate: '1985-03-02' },
  oneDigitOff: { ...ada, birthDate: '1985-02-08' },
  yearOffByOne: { ...ada, birthDate: '1984-02-03' },
};
const lookAlikeExamples: Record<LookAlikeKind, PersonFacts> = {
  twin: { ...ada, givenName: 'Grace' },
  parentOrChild: { ...ada, birthDate: '2011-09-14' },
  namesake: { ...ada, birthDate: '1979-06-21' },
};
const others = [
  { id: 'other1', givenName: 'Charles', familyName: 'Babbage', birthDate: '1985-02-03', sex: 'male' },
  { id: 'other2', givenName: 'Mary', familyName: 'Lovelock', birthDate: '1985-03-02', sex: 'female' },
];

describe('each corruption kind, by example', () => {
  it.each(Object.entries(examples))('%s is refused, the original first', (_, dup) => {
    const ranked = rankCandidates(dup, [...others, ada], policy);
    expect(ranked[0]!.candidate.id).toBe('ada');
    expect(['certain', 'probable']).toContain(ranked[0]!.grade);
  });
});

describe('each look-alike, by example', () => {
  it.each(Object.entries(lookAlikeExamples))('%s is not refused', (_, person) => {
    expect(refused(rankCandidates(person, [...others, ada], policy))).toBe(false);
  });
});

describe('on a seeded synthetic population', () => {
  const r = prng(7);
  const people: Person[] = Array.from({ length: 3000 }, (_, i) => randomPerson(r, `P${i}`));
  const byDate = new Map<string, Person[]>();
  for (const p of people) (byDate.get(p.birthDate) ?? byDate.set(p.birthDate, []).get(p.birthDate)!).push(p);
  const blocked = (d: string) => birthDateVariants(d).flatMap((v) => byDate.get(v) ?? []);
  const shortForms = (g: string) => [...(policy.shortNameTable.shortForms.get(nameKey(g)) ?? [])];
  const related = (a: string, b: string) => {
    const [x, y] = [nameKey(a), nameKey(b)];
    return withinOneEdit(x, y) || shortNameRelation(x, y, policy.shortNameTable) !== null;
  };
  // People whose names and birth date another person shares exactly are one person to any matcher.
  const unique = people.filter((p) =>
    blocked(p.birthDate).every((q) => q === p || nameKey(q.givenName + q.familyName) !== nameKey(p.givenName + p.familyName)),
  );

  it.each(Object.keys(CORRUPTIONS) as CorruptionKind[])('%s: 40 duplicates, each refused with its original first', (kind) => {
    let checked = 0;
    for (const original of unique) {
      const dup = CORRUPTIONS[kind](r, original, shortForms);
      if (!dup) continue;
      const ranked = rankCandidates(dup, blocked(dup.birthDate), policy);
      expect(ranked[0]?.candidate.id, `${kind} of ${original.id}`).toBe(original.id);
      expect(['certain', 'probable']).toContain(ranked[0]!.grade);
      if (++checked === 40) break;
    }
    expect(checked).toBe(40);
  });

  it.each(Object.keys(LOOK_ALIKES) as LookAlikeKind[])('%s: 40 look-alikes, none refused by the relative', (kind) => {
    for (const original of unique.slice(0, 40)) {
      const person = LOOK_ALIKES[kind](r, original, related);
      const ranked = rankCandidates(person, [original], policy);
      expect(refused(ranked), `${kind} of ${original.id}: ${JSON.stringify(ranked[0]?.reasons)}`).toBe(false);
    }
  });
});
