import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadPolicy } from '../../src/authz/policy.js';
import type { AgencyKind, SensitiveCategory } from '../../src/authz/vocabulary.js';
import { caseMembers, caseParticipants, riskFlags } from '../../src/db/schema/index.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { openTestDatabase, type TestDatabase } from '../helpers/db.js';
import { bearer, createAgency, createCase, createConsent, createEntry, createSubject, createUser, type TestUser } from '../helpers/factories.js';

// The policy matrix: test/policy-matrix.yaml states, by hand, what every role gets for every
// consent state × case state. Every cell is one HTTP request against a fresh subject; the whole
// response body is searched for every fixture marker the cell must not disclose.

const CASE_STATES = ['none', 'open-member', 'open-non-member', 'closed'] as const;
const CONSENT_STATES = ['none', 'active', 'expired', 'not-yet-valid', 'revoked', 'other-agency', 'caller-kind', 'active-su'] as const;
type CaseState = (typeof CASE_STATES)[number];
type ConsentState = (typeof CONSENT_STATES)[number];

const THIRD_PARTY = ['INT', 'INT_SU', 'FULL', 'FULL_PN'] as const;
const OWN = ['OWN_INT', 'OWN_INT_SU', 'OWN_FULL', 'OWN_FULL_PN', 'MINE_FULL_PN'] as const;
type EntryName = (typeof THIRD_PARTY)[number] | (typeof OWN)[number];
const ENTRY_SHAPES: Record<EntryName, { tier: 'intermediate' | 'full'; sensitivity: SensitiveCategory[]; own: boolean }> = {
  INT: { tier: 'intermediate', sensitivity: [], own: false },
  INT_SU: { tier: 'intermediate', sensitivity: ['substance-use'], own: false },
  FULL: { tier: 'full', sensitivity: [], own: false },
  FULL_PN: { tier: 'full', sensitivity: ['psychotherapy-notes'], own: false },
  OWN_INT: { tier: 'intermediate', sensitivity: [], own: true },
  OWN_INT_SU: { tier: 'intermediate', sensitivity: ['substance-use'], own: true },
  OWN_FULL: { tier: 'full', sensitivity: [], own: true },
  OWN_FULL_PN: { tier: 'full', sensitivity: ['psychotherapy-notes'], own: true },
  MINE_FULL_PN: { tier: 'full', sensitivity: ['psychotherapy-notes'], own: true },
};
/** The OWN_* entries are written by a colleague of the caller's agency; MINE_* by the caller itself. */
const AUTHORED_BY_CALLER: readonly EntryName[] = ['MINE_FULL_PN'];

const RELEASE_SCENARIOS = ['consent-by-non-owner', 'case-by-non-owner', 'owner-joins', 'added-by-non-participant', 'added-by-owner'] as const;
type ReleaseScenario = (typeof RELEASE_SCENARIOS)[number];
const TIER_ORDER = ['basic', 'intermediate', 'full'] as const;
type Tier = (typeof TIER_ORDER)[number];

// ---- the table ------------------------------------------------------------------------------

interface Table {
  caseStates: string[];
  consentStates: string[];
  roles: Record<string, Record<string, string[]>>;
  ownContribution: Record<string, { status?: number; tier?: Tier; entries?: string[]; basis?: string[] }>;
  releaseScenarios: string[];
  releases: Record<string, Record<string, string>>;
}
const table = parse(readFileSync(new URL('../policy-matrix.yaml', import.meta.url), 'utf8')) as Table;

/** What a cell code (`403`, or `<tier>[+su] [by consent|case|consent+case]`) promises. */
interface Expectation {
  status: 200 | 403;
  tier?: Tier;
  entries: EntryName[];
  byConsent: boolean;
  byCase: boolean;
  /** Per-entry bases besides the tier grants: own-contribution and author, each with its tier. */
  entryBasis: { tier: Tier; rule: string }[];
}

const CODE = /^(?:(403)|(basic|intermediate|full)(\+su)?(?: by (consent|case|consent\+case))?(, no entries)?)$/;
function expectationOf(code: string): Expectation {
  const m = CODE.exec(String(code).trim());
  if (!m) throw new Error(`policy-matrix.yaml: unknown cell code "${code}"`);
  if (m[1]) return { status: 403, entries: [], byConsent: false, byCase: false, entryBasis: [] };
  const tier = m[2] as Tier;
  const entries: EntryName[] = tier === 'basic' || m[5] ? [] : tier === 'intermediate' ? ['INT'] : ['INT', 'FULL'];
  if (m[3]) {
    if (tier === 'basic') throw new Error(`policy-matrix.yaml: "${code}": +su needs a tier above basic`);
    entries.push('INT_SU');
  }
  const by = m[4] ?? '';
  return { status: 200, tier, entries, byConsent: by.includes('consent'), byCase: by.includes('case'), entryBasis: [] };
}

interface Cell {
  role: string;
  consent: ConsentState;
  case: CaseState;
  code: string;
  expect: Expectation;
}

function cellsOf(role: string): Cell[] {
  const grid = table.roles[role]!;
  return CONSENT_STATES.flatMap((consent) =>
    CASE_STATES.map((caseState, i) => {
      const code = String(grid[consent]![i]);
      return { role, consent, case: caseState, code, expect: expectationOf(code) };
    }),
  );
}

// ---- fixtures -------------------------------------------------------------------------------

let database: TestDatabase;
let t: TestApp;
/** The caller per role; callers of one agency kind share one agency. */
const callers = new Map<string, TestUser>();
/** Per agency kind: another agency of the same kind, for the consent that names someone else. */
const otherAgencyOf = new Map<string, { id: string }>();
/** A clinician of a third mental_health agency: contributes every fixture entry, records consents, opens cases. */
let contributor: TestUser;
/** A clinician of a fourth agency that owns none of the entries: its consents and cases must release nothing of the contributor's. */
let stranger: TestUser;
/** Per caller agency: a colleague of the caller, who writes the caller's agency's OWN_* entries. */
const colleagueOf = new Map<string, TestUser>();
/** Access-log entries before the first cell, and HTTP requests made since. */
let entriesBefore: number;
let requestsMade = 0;
const logCount = async () => (await database.admin('select count(*)::int as n from access_log')).rows[0]!.n as number;

beforeAll(async () => {
  database = await openTestDatabase();
  t = await createTestApp(database.app);
  const db = t.deps.db;
  const third = await createAgency(db, 'mental_health', `third-mh-${short()}`);
  contributor = await createUser(t.deps, third, 'clinician');
  stranger = await createUser(t.deps, await createAgency(db, 'mental_health', `fourth-mh-${short()}`), 'clinician');
  for (const kind of ['police', 'mental_health', 'hospital', 'gateway'] as AgencyKind[]) {
    const own = await createAgency(db, kind, `caller-${kind.replace('_', '-')}-${short()}`);
    otherAgencyOf.set(kind, await createAgency(db, kind, `other-${kind.replace('_', '-')}-${short()}`));
    const roles = Object.keys(table.roles).filter((r) => r.startsWith(`${kind}/`));
    for (const role of roles) callers.set(role, await createUser(t.deps, own, role.split('/')[1]!));
    colleagueOf.set(own.id, await createUser(t.deps, own, roles[0]!.split('/')[1]!));
  }
  entriesBefore = await logCount();
});
afterAll(() => database?.close());

function short() {
  return randomUUID().slice(0, 8);
}

interface Fixture {
  subject: { id: string; givenName: string; familyName: string; birthDate: string; sex: string };
  riskMarker: string;
  markers: Partial<Record<EntryName, string>>;
  consentId?: string;
  caseId?: string;
}

async function buildFixture(caller: TestUser, consent: ConsentState, caseState: CaseState, entryNames: readonly EntryName[]): Promise<Fixture> {
  const db = t.deps.db;
  const tag = short();
  const subject = await createSubject(db, contributor, { givenName: `Given${tag}`, familyName: `Family${tag}`, birthDate: '1971-07-13', sex: 'female' });
  const riskMarker = `RISK-${tag}`;
  await db.insert(riskFlags).values({
    subjectId: subject.id,
    code: 'weapon-access',
    severity: 'high',
    note: `note ${riskMarker}`,
    agencyId: contributor.agencyId,
    createdBy: contributor.userId,
  });
  const markers: Fixture['markers'] = {};
  for (const name of entryNames) {
    const shape = ENTRY_SHAPES[name];
    const author = !shape.own ? contributor : AUTHORED_BY_CALLER.includes(name) ? caller : colleagueOf.get(caller.agencyId)!;
    markers[name] = (await createEntry(db, subject.id, author, shape.tier, shape.sensitivity)).marker;
  }

  const day = 86_400_000;
  const mine = { agencyIds: [caller.agencyId] };
  const consentOpts: Record<Exclude<ConsentState, 'none'>, Parameters<typeof createConsent>[3]> = {
    active: mine,
    expired: { ...mine, validFrom: new Date(Date.now() - 3 * day), validUntil: new Date(Date.now() - day) },
    'not-yet-valid': { ...mine, validFrom: new Date(Date.now() + day), validUntil: new Date(Date.now() + 3 * day) },
    revoked: { ...mine, revoked: true },
    'other-agency': { agencyIds: [otherAgencyOf.get(caller.kind)!.id] },
    'caller-kind': { kinds: [caller.kind] },
    'active-su': { ...mine, categories: ['substance-use'] },
  };
  const consentId = consent === 'none' ? undefined : (await createConsent(db, subject.id, contributor, consentOpts[consent])).id;

  const caseId =
    caseState === 'none'
      ? undefined
      : (
          await createCase(
            db,
            subject.id,
            contributor,
            caseState === 'open-non-member' ? [contributor] : [contributor, caller],
            caseState === 'closed' ? 'closed' : 'open',
          )
        ).id;

  return {
    subject: { id: subject.id, givenName: subject.givenName, familyName: subject.familyName, birthDate: subject.birthDate, sex: subject.sex },
    riskMarker,
    markers,
    consentId,
    caseId,
  };
}

/** The third-party fixture, then a consent or case made by someone who is not (or not only) the owner. */
async function buildReleaseFixture(caller: TestUser, scenario: ReleaseScenario): Promise<Fixture> {
  const db = t.deps.db;
  const fx = await buildFixture(caller, 'none', 'none', THIRD_PARTY);
  const member = (caseId: string, user: TestUser, by: TestUser) => db.insert(caseMembers).values({ caseId, userId: user.userId, addedBy: by.userId });
  switch (scenario) {
    case 'consent-by-non-owner':
      // Every category named, by an agency that owns none of the entries.
      fx.consentId = (
        await createConsent(db, fx.subject.id, stranger, { agencyIds: [caller.agencyId], categories: ['substance-use', 'psychotherapy-notes'] })
      ).id;
      break;
    case 'case-by-non-owner':
      fx.caseId = (await createCase(db, fx.subject.id, stranger, [stranger, caller])).id;
      break;
    case 'owner-joins': {
      // The caller was on the team when the owner joined: the owner's entries reach it.
      fx.caseId = (await createCase(db, fx.subject.id, stranger, [stranger, caller, contributor])).id;
      await db.insert(caseParticipants).values({ caseId: fx.caseId, agencyId: contributor.agencyId, joinedBy: contributor.userId });
      break;
    }
    case 'added-by-non-participant': {
      // The owner opened the case; a member of an agency that did not join added the caller.
      fx.caseId = (await createCase(db, fx.subject.id, contributor, [contributor, stranger])).id;
      await member(fx.caseId, caller, stranger);
      break;
    }
    case 'added-by-owner':
      fx.caseId = (await createCase(db, fx.subject.id, contributor, [contributor, caller])).id;
      break;
  }
  return fx;
}

// ---- the assertions -------------------------------------------------------------------------

const basisKey = (b: Record<string, unknown>) => JSON.stringify(Object.fromEntries(Object.entries(b).sort(([a], [c]) => a.localeCompare(c))));

async function checkCell(caller: TestUser, fx: Fixture, want: Expectation) {
  const res = await request(t.app).get(`/v1/subjects/${fx.subject.id}`).set(bearer(caller));
  requestsMade++;
  const raw = JSON.stringify(res.body);
  const allMarkers = Object.entries(fx.markers) as [EntryName, string][];
  const logRows = (
    await database.admin('select action, decision, tier, basis, reason, actor_user_id from access_log where subject_id = $1 order by seq', [fx.subject.id])
  ).rows;

  if (want.status === 403) {
    expect(res.status, raw).toBe(403);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ status: 403, title: 'Forbidden' });
    expect(res.body).not.toHaveProperty('subject');
    expect(res.body).not.toHaveProperty('access');
    // Nothing of the record, anywhere in the body.
    for (const needle of [fx.subject.givenName, fx.subject.familyName, fx.subject.birthDate, fx.riskMarker, ...allMarkers.map(([, m]) => m)]) {
      expect(raw, `403 body leaks ${needle}`).not.toContain(needle);
    }
    for (const id of [fx.consentId, fx.caseId]) if (id) expect(raw).not.toContain(id);
    expect(logRows).toHaveLength(1);
    expect(logRows[0]).toMatchObject({ action: 'subject.read', decision: 'deny', actor_user_id: caller.userId, tier: null, reason: 'no-rule:read:Subject' });
    return;
  }

  expect(res.status, raw).toBe(200);
  expect(res.headers['content-type']).toMatch(/^application\/json/);

  // Basic tier: demographics and the risk assessment.
  expect(res.body.subject).toMatchObject(fx.subject);
  expect(res.body.subject.riskFlags).toHaveLength(1);
  expect(res.body.subject.riskFlags[0]).toMatchObject({ code: 'weapon-access', severity: 'high', note: `note ${fx.riskMarker}` });

  // The tier and what is withheld, by name only.
  const tier = want.tier!;
  expect(res.body.access.tier).toBe(tier);
  expect(res.body.access.withheld).toEqual(TIER_ORDER.slice(TIER_ORDER.indexOf(tier) + 1));

  // Exactly the promised entries, each whole; every other marker absent from the entire body.
  const entries = res.body.subject.entries as { summary: string; content: { text: string }; tier: string; sensitivity: string[] }[];
  const seen = entries.map((e) => allMarkers.find(([, m]) => e.summary.includes(m))?.[0] ?? `unknown entry ${e.summary}`);
  expect([...seen].sort()).toEqual([...want.entries].sort());
  for (const e of entries) {
    const name = allMarkers.find(([, m]) => e.summary.includes(m))![0];
    expect(e.content.text).toContain(fx.markers[name]);
    expect(e.tier).toBe(ENTRY_SHAPES[name].tier);
    expect(e.sensitivity).toEqual(ENTRY_SHAPES[name].sensitivity);
    expect(e).not.toHaveProperty('agencyId');
  }
  for (const [name, marker] of allMarkers) {
    if (!want.entries.includes(name)) expect(raw, `body leaks ${name}`).not.toContain(marker);
  }

  // The basis names the rule and the consent or case it rests on, and nothing else.
  const basis: Record<string, unknown>[] = [{ tier: 'basic', rule: 'partner-read' }];
  const above = TIER_ORDER.slice(1, TIER_ORDER.indexOf(tier) + 1);
  if (want.byConsent) basis.push({ tier: 'intermediate', rule: 'consent', consentId: fx.consentId });
  if (want.byCase) for (const granted of above) basis.push({ tier: granted, rule: 'open-case-member', caseId: fx.caseId });
  for (const b of want.entryBasis) basis.push(b);
  expect((res.body.access.basis as Record<string, unknown>[]).map(basisKey).sort()).toEqual(basis.map(basisKey).sort());
  // A consent or case that grants nothing is not even named.
  if (!want.byConsent && fx.consentId) expect(raw).not.toContain(fx.consentId);
  if (!want.byCase && fx.caseId) expect(raw).not.toContain(fx.caseId);

  // Exactly one access-log entry for this read: an allow at the granted tier.
  expect(logRows).toHaveLength(1);
  expect(logRows[0]).toMatchObject({ action: 'subject.read', decision: 'allow', tier, actor_user_id: caller.userId });
  expect((logRows[0]!.basis as Record<string, unknown>[]).map(basisKey).sort()).toEqual(basis.map(basisKey).sort());
}

// ---- the table is complete and well formed --------------------------------------------------

describe('policy-matrix.yaml', () => {
  it('covers every role of the policy, every consent state and every case state', () => {
    expect(table.caseStates).toEqual([...CASE_STATES]);
    expect(table.consentStates).toEqual([...CONSENT_STATES]);
    const policyRoles = Object.entries(loadPolicy().roles).flatMap(([kind, roles]) => Object.keys(roles ?? {}).map((r) => `${kind}/${r}`));
    expect(Object.keys(table.roles).sort()).toEqual(policyRoles.sort());
    expect(Object.keys(table.ownContribution).sort()).toEqual(policyRoles.sort());
    expect(table.releaseScenarios).toEqual([...RELEASE_SCENARIOS]);
    expect(Object.keys(table.releases).sort()).toEqual(policyRoles.sort());
    for (const [role, row] of Object.entries(table.releases)) {
      expect(Object.keys(row), role).toEqual([...RELEASE_SCENARIOS]);
      for (const code of Object.values(row)) expectationOf(String(code));
    }
    for (const [role, grid] of Object.entries(table.roles)) {
      expect(Object.keys(grid), role).toEqual([...CONSENT_STATES]);
      for (const row of Object.values(grid)) {
        expect(row).toHaveLength(CASE_STATES.length);
        for (const code of row) expectationOf(String(code));
      }
    }
  });
});

// ---- every cell, through HTTP ---------------------------------------------------------------

describe.each(Object.keys(table.roles))('%s', (role) => {
  it.each(cellsOf(role).map((c) => [`consent ${c.consent} × case ${c.case} → ${c.code}`, c] as const))('%s', async (_name, cell) => {
    const caller = callers.get(role)!;
    const fx = await buildFixture(caller, cell.consent, cell.case, THIRD_PARTY);
    await checkCell(caller, fx, cell.expect);
  });
});

describe('own contribution (no consent, no case)', () => {
  it.each(Object.entries(table.ownContribution))('%s', async (role, row) => {
    const caller = callers.get(role)!;
    const fx = await buildFixture(caller, 'none', 'none', [...THIRD_PARTY, ...OWN]);
    const want: Expectation =
      row.status === 403
        ? expectationOf('403')
        : {
            status: 200,
            tier: row.tier!,
            entries: (row.entries ?? []) as EntryName[],
            byConsent: false,
            byCase: false,
            entryBasis: (row.basis ?? []).map((b) => {
              const [rule, tier] = b.split('@');
              return { rule: rule!, tier: tier as Tier };
            }),
          };
    for (const name of want.entries) expect(OWN as readonly string[], `ownContribution.${role}`).toContain(name);
    await checkCell(caller, fx, want);
  });
});

describe('disclosers × participation: only the owner releases', () => {
  const cells = Object.keys(table.releases).flatMap((role) =>
    RELEASE_SCENARIOS.map((sc) => [`${role} · ${sc} → ${table.releases[role]![sc]}`, role, sc] as const),
  );
  it.each(cells)('%s', async (_name, role, scenario) => {
    const caller = callers.get(role)!;
    const fx = await buildReleaseFixture(caller, scenario);
    await checkCell(caller, fx, expectationOf(String(table.releases[role]![scenario])));
  });
});

// Runs last (vitest runs a file's tests in order): over the whole table, one entry per request.
describe('the access log over the whole table', () => {
  it('holds exactly as many new entries as requests were made, allows and denials alike', async () => {
    expect(requestsMade).toBeGreaterThan(290);
    expect((await logCount()) - entriesBefore).toBe(requestsMade);
  });
});
