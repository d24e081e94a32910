import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPolicy } from '../../src/authz/policy.js';
import type { AgencyKind } from '../../src/authz/vocabulary.js';
import { caseMembers, caseParticipants, riskFlags } from '../../src/db/schema/index.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { openTestDatabase, type TestDatabase } from '../helpers/db.js';
import { bearer, createAgency, createCase, createConsent, createEntry, createSubject, createUser, type TestUser } from '../helpers/factories.js';
import {
  AUTHORED_BY_CALLER,
  basisKey,
  cellsOf,
  ENTRY_SHAPES,
  expectationOf,
  expectWellFormed,
  OWN,
  ownExpectationOf,
  RELEASE_SCENARIOS,
  rolesOf,
  table,
  THIRD_PARTY,
  TIER_ORDER,
  type CaseState,
  type ConsentState,
  type EntryName,
  type Expectation,
  type ReleaseScenario,
} from '../helpers/policy-matrix.js';

// The policy matrix: test/policy-matrix.yaml states, by hand, what every role gets for every
// consent state × case state. Every cell is one HTTP request against a fresh subject; the whole
// response body is searched for every fixture marker the cell must not disclose.

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
    expectWellFormed(rolesOf(loadPolicy()));
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
    const want = ownExpectationOf(row);
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
