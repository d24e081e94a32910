import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { releases, type EntryGrant } from '../../src/authz/release.js';
import type { SensitiveCategory, Tier } from '../../src/authz/vocabulary.js';
import { listEntryFacts } from '../../src/modules/subjects/repository.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { openTestDatabase, type TestDatabase } from '../helpers/db.js';
import { createAgency, createEntry, createSubject, createUser, type TestUser } from '../helpers/factories.js';

// The release rule is written once (src/authz/release.ts) and encoded twice from it: the SQL
// filter of the record statements and the check of every row. Here both are asked about the same
// grants and the same entries, on the real database: they must release exactly the same entries.

let database: TestDatabase;
let t: TestApp;
let subjectId: string;
let authors: TestUser[];
let facts: { id: string; tier: string; sensitivity: string[]; agencyId: string; authorUserId: string }[];

const CATEGORY_SETS: SensitiveCategory[][] = [[], ['substance-use'], ['psychotherapy-notes'], ['substance-use', 'psychotherapy-notes']];

beforeAll(async () => {
  database = await openTestDatabase();
  t = await createTestApp(database.app);
  const [a, b] = [await createAgency(t.deps.db, 'mental_health'), await createAgency(t.deps.db, 'hospital')];
  authors = [await createUser(t.deps, a, 'clinician'), await createUser(t.deps, a, 'clinician'), await createUser(t.deps, b, 'clinician')];
  subjectId = (await createSubject(t.deps.db, authors[0]!)).id;
  // Every author, tier and combination of labels: 24 entries.
  for (const by of authors) {
    for (const tier of ['intermediate', 'full'] as const) {
      for (const labels of CATEGORY_SETS) await createEntry(t.deps.db, subjectId, by, tier, labels);
    }
  }
  facts = (
    await database.admin(
      `SELECT id, tier, sensitivity, agency_id AS "agencyId", created_by AS "authorUserId" FROM clinical_entries WHERE subject_id = $1 ORDER BY created_at, id`,
      [subjectId],
    )
  ).rows as typeof facts;
});

afterAll(() => database?.close());

/** Every grant over these people's agencies and authors: each field open or narrowing. */
function everyGrant(): EntryGrant[] {
  const [a1, a2, b1] = authors as [TestUser, TestUser, TestUser];
  const grants: EntryGrant[] = [];
  for (const tiers of [[], ['intermediate'], ['full'], ['intermediate', 'full']] as Tier[][]) {
    for (const agencyIds of [undefined, [], [a1.agencyId], [a1.agencyId, b1.agencyId]]) {
      for (const authorUserId of [undefined, a2.userId, b1.userId]) {
        for (const categories of CATEGORY_SETS) {
          grants.push({
            basis: { rule: 'consent' },
            opensRecord: true,
            tiers,
            ...(agencyIds ? { agencyIds } : {}),
            ...(authorUserId ? { authorUserId } : {}),
            categories,
          });
        }
      }
    }
  }
  return grants;
}

const inMemory = (grants: EntryGrant[]) => facts.filter((e) => grants.some((g) => releases(g, e))).map((e) => e.id);
const inSql = async (grants: EntryGrant[]) => (await listEntryFacts(t.deps.db, subjectId, grants)).map((e) => e.id);

describe('the release rule, in SQL and in memory', () => {
  it('releases the same entries for every single grant', async () => {
    const sizes = new Set<number>();
    for (const grant of everyGrant()) {
      const expected = inMemory([grant]);
      expect(await inSql([grant]), JSON.stringify(grant)).toEqual(expected);
      sizes.add(expected.length);
    }
    // The grants narrow in every way: some release nothing, some everything, many a part.
    expect(sizes).toContain(0);
    expect(sizes).toContain(facts.length);
    expect(sizes.size).toBeGreaterThan(6);
  });

  it('releases the union of its grants, and nothing without a grant', async () => {
    const grants = everyGrant();
    for (let i = 0; i < grants.length; i += 7) {
      const pair = [grants[i]!, grants[(i * 13 + 5) % grants.length]!];
      expect(await inSql(pair), JSON.stringify(pair)).toEqual(inMemory(pair));
    }
    expect(await inSql([])).toEqual([]);
    expect(inMemory([])).toEqual([]);
  });

  it('withholds a labelled entry unless the grant names every label it carries', () => {
    const [a1] = authors as [TestUser];
    const su = facts.find(
      (e) => e.authorUserId === a1.userId && e.tier === 'intermediate' && e.sensitivity.length === 1 && e.sensitivity[0] === 'substance-use',
    )!;
    const both = facts.find((e) => e.authorUserId === a1.userId && e.tier === 'intermediate' && e.sensitivity.length === 2)!;
    const grant = (categories: SensitiveCategory[]): EntryGrant => ({ basis: { rule: 'consent' }, opensRecord: true, tiers: ['intermediate'], categories });
    expect(releases(grant([]), su)).toBe(false);
    expect(releases(grant(['substance-use']), su)).toBe(true);
    expect(releases(grant(['substance-use']), both)).toBe(false);
    expect(releases(grant(['substance-use', 'psychotherapy-notes']), both)).toBe(true);
  });
});
