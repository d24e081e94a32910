// `npm run bench:matching [-- --people 20000 --per-kind 1000 --seed 20 --append]`: the matcher's
// accuracy on a synthetic population with known truth (test/fixtures/population.ts). Blocking is
// simulated as the SQL does it: the candidates are the people born on one of birthDateVariants.
// Goals (issue 20): duplicates caught >= 0.95 overall and >= 0.9 for each kind; look-alikes
// wrongly refused <= 0.02; a one-letter slip in a search still finding the person >= 0.9.
// --append adds the tables to bench/RESULTS.md. --rare-family-share 0 draws every family name from
// the list of common ones (the hardest case for look-alikes).
import { appendFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { equivalentKeys, shortNameRelation } from '../src/matching/nicknames.js';
import { birthDateVariants, loadMatchingPolicy, nameKey, rankCandidates, rankSearch, type Scored } from '../src/matching/index.js';
import { withinOneEdit } from '../src/matching/similarity.js';
import { fromPackageRoot } from '../src/paths.js';
import { CORRUPTIONS, LOOK_ALIKES, oneSlip, prng, randomPerson, type CorruptionKind, type LookAlikeKind, type Person } from '../test/fixtures/population.js';

const { values: args } = parseArgs({
  options: {
    people: { type: 'string', default: '20000' },
    'per-kind': { type: 'string', default: '1000' },
    seed: { type: 'string', default: '20' },
    'rare-family-share': { type: 'string', default: '0.5' },
    policy: { type: 'string' },
    append: { type: 'boolean', default: false },
  },
});
const PEOPLE = Number(args.people);
const PER_KIND = Number(args['per-kind']);
const RARE = Number(args['rare-family-share']);
const policy = loadMatchingPolicy(args.policy);
const r = prng(Number(args.seed));

const refuses = (s: Scored | undefined) => s?.grade === 'certain' || s?.grade === 'probable';
const shortForms = (given: string) => [...(policy.shortNameTable.shortForms.get(nameKey(given)) ?? [])];
const related = (a: string, b: string) => {
  const [x, y] = [nameKey(a), nameKey(b)];
  return x === y || withinOneEdit(x, y) || shortNameRelation(x, y, policy.shortNameTable) !== null || equivalentKeys(x, policy.shortNameTable).includes(y);
};

// --- the population: originals, then look-alikes, all in one "database" ----------------------
// Each person's facts are unique (two records with the same names and birth date would be one
// person by any measure), so the truth is known.
const taken = new Set<string>();
const factsKey = (p: Person) => `${nameKey(p.givenName)}|${nameKey(p.familyName)}|${p.birthDate}`;
const fresh = (make: () => Person): Person => {
  for (;;) {
    const p = make();
    if (!taken.has(factsKey(p))) return (taken.add(factsKey(p)), p);
  }
};
const originals: Person[] = Array.from({ length: PEOPLE }, (_, i) => fresh(() => randomPerson(r, `P${i}`, RARE)));
const lookAlikes: { kind: LookAlikeKind; person: Person; of: Person }[] = [];
for (const kind of Object.keys(LOOK_ALIKES) as LookAlikeKind[]) {
  for (let i = 0; i < PER_KIND; i++) {
    const of = originals[Math.floor(r() * originals.length)]!;
    lookAlikes.push({ kind, of, person: fresh(() => ({ ...LOOK_ALIKES[kind](r, of, related), id: `L-${kind}-${i}` })) });
  }
}
const byBirthDate = new Map<string, Person[]>();
for (const p of [...originals, ...lookAlikes.map((l) => l.person)])
  (byBirthDate.get(p.birthDate) ?? byBirthDate.set(p.birthDate, []).get(p.birthDate)!).push(p);
const blocked = (birthDate: string, except?: string) =>
  birthDateVariants(birthDate)
    .flatMap((d) => byBirthDate.get(d) ?? [])
    .filter((p) => p.id !== except);

// --- duplicates: each corruption of a random original, matched against the database ------------
type Row = { kind: string; n: number; hit: number; top: number; certain: number };
const duplicateRows: Row[] = [];
for (const kind of Object.keys(CORRUPTIONS) as CorruptionKind[]) {
  const row: Row = { kind, n: 0, hit: 0, top: 0, certain: 0 };
  while (row.n < PER_KIND) {
    const original = originals[Math.floor(r() * originals.length)]!;
    const dup = CORRUPTIONS[kind](r, original, shortForms);
    if (!dup) continue;
    const ranked = rankCandidates(dup, blocked(dup.birthDate), policy);
    const mine = ranked.find((c) => c.candidate.id === original.id);
    row.n++;
    if (refuses(mine)) row.hit++;
    if (mine?.grade === 'certain') row.certain++;
    if (ranked[0]?.candidate.id === original.id) row.top++;
  }
  duplicateRows.push(row);
}

// --- look-alikes: creating each must not be refused --------------------------------------------
const lookRows: (Row & { byRelative: number })[] = [];
for (const kind of Object.keys(LOOK_ALIKES) as LookAlikeKind[]) {
  const row = { kind, n: 0, hit: 0, top: 0, certain: 0, byRelative: 0 };
  for (const l of lookAlikes.filter((x) => x.kind === kind)) {
    const ranked = rankCandidates(l.person, blocked(l.person.birthDate, l.person.id), policy);
    row.n++;
    if (ranked.some(refuses)) row.hit++;
    if (refuses(ranked.find((c) => c.candidate.id === l.of.id))) row.byRelative++;
  }
  lookRows.push(row);
}

// --- searches: a one-letter slip in the name, the exact birth date ------------------------------
type SearchRow = Row & { others: number };
const searches: Record<string, (p: Person) => string> = {
  'given and family, slip in the family name': (p) => `${p.givenName} ${oneSlip(r, p.familyName)}`,
  'given and family, slip in the given name': (p) => `${oneSlip(r, p.givenName)} ${p.familyName}`,
  'family name alone, with a slip': (p) => oneSlip(r, p.familyName),
  'given name alone, exact': (p) => p.givenName,
};
const searchRows: SearchRow[] = [];
for (const [kind, query] of Object.entries(searches)) {
  const row: SearchRow = { kind, n: 0, hit: 0, top: 0, certain: 0, others: 0 };
  for (let i = 0; i < PER_KIND; i++) {
    const p = originals[Math.floor(r() * originals.length)]!;
    const ranked = rankSearch({ name: query(p), birthDate: p.birthDate }, blocked(p.birthDate), policy);
    row.n++;
    const first = ranked[0];
    if (first?.candidate.id === p.id) row.hit++;
    if (ranked.some((c) => c.candidate.id !== p.id)) row.others++;
  }
  searchRows.push(row);
}

// --- report -----------------------------------------------------------------------------------
const f = (x: number, n: number) => (x / n).toFixed(3);
const meanBlocked = Math.round(originals.slice(0, 200).reduce((sum, p) => sum + blocked(p.birthDate).length, 0) / Math.min(200, originals.length));
const caught = duplicateRows.reduce((a, b) => a + b.hit, 0) / duplicateRows.reduce((a, b) => a + b.n, 0);
const lines = [
  `${PEOPLE} people (${RARE} of them with a rare family name), ${PER_KIND} per kind, seed ${args.seed}; candidates = everyone born on one of birthDateVariants (${meanBlocked} on average).`,
  '',
  '| duplicate made by | n | caught (certain or probable) | of which certain | original ranked first |',
  '|---|---|---|---|---|',
  ...duplicateRows.map((d) => `| ${d.kind} | ${d.n} | ${f(d.hit, d.n)} | ${f(d.certain, d.n)} | ${f(d.top, d.n)} |`),
  `| **all** | ${duplicateRows.reduce((a, b) => a + b.n, 0)} | **${caught.toFixed(3)}** | | |`,
  '',
  '| look-alike | n | wrongly refused (any candidate certain or probable) | refused by the relative |',
  '|---|---|---|---|',
  ...lookRows.map((l) => `| ${l.kind} | ${l.n} | ${f(l.hit, l.n)} | ${f(l.byRelative, l.n)} |`),
  '',
  '| search | n | found, ranked first (possible or better) | someone else listed too |',
  '|---|---|---|---|',
  ...searchRows.map((s) => `| ${s.kind} | ${s.n} | ${f(s.hit, s.n)} | ${f(s.others, s.n)} |`),
];
const goals = [
  ['caught overall >= 0.95', caught >= 0.95],
  ['every kind caught >= 0.9', duplicateRows.every((d) => d.hit / d.n >= 0.9)],
  ['look-alikes refused <= 0.02', lookRows.every((l) => l.hit / l.n <= 0.02)],
  ['slip searches found >= 0.9', searchRows.filter((s) => s.kind.includes('slip')).every((s) => s.hit / s.n >= 0.9)],
] as const;
lines.push('', `Goals: ${goals.map(([g, ok]) => `${g} ${ok ? 'met' : 'NOT MET'}`).join('; ')}.`);
console.log(lines.join('\n'));
if (args.append) {
  const when = new Date().toISOString().slice(0, 16).replace('T', ' ');
  appendFileSync(fromPackageRoot('bench', 'RESULTS.md'), `\n## ${when} UTC: matcher accuracy (npm run bench:matching)\n\n${lines.join('\n')}\n`);
}
if (!goals.every(([, ok]) => ok)) process.exitCode = 1;
