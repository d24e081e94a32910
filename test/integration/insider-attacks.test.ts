import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_USERS, seedDemo } from '../../src/db/seed/demo.js';
import { expectNoMarkers, expectProblem, logOf as accessLogOf } from '../helpers/assertions.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { openTestDatabase, type TestDatabase } from '../helpers/db.js';
import { createAgency, createUser, type TestUser } from '../helpers/factories.js';

// Issue 9: the protocol must hold against the people who hold write rights. Each attack of the
// issue, tried as an insider would, over HTTP against the demo tenancy, next to its legitimate
// twin. SPEC principles 8 (the data owner releases), 9 (psychotherapy notes), 11 (42 CFR 2.32).

const PASSWORD = 'insider-attacks-password';
const ALAN = { diagnosis: 'Generalised anxiety disorder', psychotherapy: 'Psychotherapy session notes' };
const ADA = { substanceUse: 'Opioid use disorder, on buprenorphine', reference: 'Harbor MH consent form 2026-07' };

let database: TestDatabase;
let t: TestApp;
const tokens: Record<string, string> = {};
let alan: string;
let ada: string;
let grace: string;
let lakeside: TestUser; // a clinician of an agency that takes no part in anything below

type Who = (typeof DEMO_USERS)[number]['username'];
const auth = (u: Who | TestUser) => ({ Authorization: `Bearer ${typeof u === 'string' ? tokens[u] : u.token}` });
const read = (u: Who | TestUser, id: string) => request(t.app).get(`/v1/subjects/${id}`).set(auth(u));
const post = (u: Who | TestUser, path: string, body: object = {}) => request(t.app).post(path).set(auth(u)).send(body);
const logOf = (res: { headers: Record<string, string> }) => accessLogOf(database, res);
const summaries = (res: request.Response) => (res.body.subject.entries as { summary: string }[]).map((e) => e.summary);

const consentBody = (recipients: unknown[], extra: Record<string, unknown> = {}) => ({
  recipients,
  tiers: ['intermediate'],
  sensitiveCategories: [],
  purpose: 'care-coordination',
  evidence: { form: 'verbal', witness: 'me' },
  ...extra,
});

/** A person of Harbor MH's with one entry of each kind that matters, written through the API. */
async function harborPerson() {
  const tag = Math.random().toString(36).slice(2, 10);
  const created = await post('clinician@harbor-mh', '/v1/subjects', { givenName: 'Test', familyName: `Harbor${tag}`, birthDate: '1979-04-04', sex: 'unknown' });
  expect(created.status, created.text).toBe(201);
  const id = created.body.id as string;
  const m = {
    diagnosis: `DIAG-${tag}`,
    fullNote: `FULLNOTE-${tag}`,
    psychotherapy: `PSYNOTE-${tag}`,
    psychotherapyIntermediate: `PSYINT-${tag}`,
    substanceUse: `SUD-${tag}`,
  };
  const entry = (kind: string, tier: string, sensitivity: string[], summary: string) =>
    post('clinician@harbor-mh', `/v1/subjects/${id}/entries`, { kind, tier, sensitivity, summary, content: { text: summary } }).expect(201);
  await entry('diagnosis', 'intermediate', [], m.diagnosis);
  await entry('note', 'full', [], m.fullNote);
  await entry('note', 'full', ['psychotherapy-notes'], m.psychotherapy);
  await entry('note', 'intermediate', ['psychotherapy-notes'], m.psychotherapyIntermediate);
  await entry('treatment', 'intermediate', ['substance-use'], m.substanceUse);
  return { id, m, all: Object.values(m) };
}

async function openCase(by: Who, subjectId: string) {
  const res = await post(by, '/v1/cases', { subjectId, title: 'Follow-up' });
  expect(res.status, res.text).toBe(201);
  return res.body.id as string;
}

beforeAll(async () => {
  database = await openTestDatabase();
  t = await createTestApp(database.app);
  expect(await seedDemo(t.deps.db, PASSWORD)).toBe(true);
  for (const u of DEMO_USERS) {
    const res = await request(t.app).post('/oauth/token').type('form').send({ grant_type: 'password', username: u.username, password: PASSWORD });
    expect(res.status, res.text).toBe(200);
    tokens[u.username] = res.body.access_token;
  }
  const find = async (name: string, dob: string) =>
    (await request(t.app).get('/v1/subjects').query({ name, dob }).set(auth('clerk@metro-police'))).body.subjects[0].id as string;
  alan = await find('Turing', '1982-06-23');
  ada = await find('Lovelace', '1985-02-03');
  grace = await find('Hopper', '1976-12-09');
  lakeside = await createUser(t.deps, await createAgency(t.deps.db, 'mental_health', 'lakeside-mh'), 'clinician');
});
afterAll(() => database?.close());

describe('1. the data owner releases', () => {
  it("doctor@city-hospital's own consent (every category) and own case on Alan release none of Harbor's entries", async () => {
    const consent = await post(
      'doctor@city-hospital',
      `/v1/subjects/${alan}/consents`,
      consentBody([{ agency: 'city-hospital' }], { sensitiveCategories: ['psychotherapy-notes', 'substance-use'] }),
    );
    expect(consent.status, consent.text).toBe(201);
    expect(consent.body.disclosers).toEqual(['city-hospital']);
    const caseId = await openCase('doctor@city-hospital', alan);

    const res = await read('doctor@city-hospital', alan);
    expect(res.status, res.text).toBe(200);
    expect(res.body.subject.entries).toEqual([]);
    expect(res.text).not.toContain(ALAN.diagnosis);
    expect(res.text).not.toContain(ALAN.psychotherapy);
    // The grants it made itself cover its own agency's entries, of which there are none.
    expect(res.body.access.basis).toContainEqual({ tier: 'full', rule: 'open-case-member', caseId });
    const log = await logOf(res);
    expect(log).toEqual([expect.objectContaining({ action: 'subject.read', decision: 'allow', detail: { entries: [] } })]);
  });

  it('a consent may name only the recording agency as discloser: naming Harbor is 403 and records nothing', async () => {
    const before = (await database.admin('SELECT count(*)::int AS n FROM consents WHERE subject_id = $1', [alan])).rows[0]!.n;
    const res = await post('doctor@city-hospital', `/v1/subjects/${alan}/consents`, consentBody([{ agency: 'city-hospital' }], { disclosers: ['harbor-mh'] }));
    expectProblem(res, 403);
    expect(await logOf(res)).toEqual([expect.objectContaining({ action: 'consent.create', decision: 'deny', reason: 'consent-discloser-not-own-agency' })]);
    expect((await database.admin('SELECT count(*)::int AS n FROM consents WHERE subject_id = $1', [alan])).rows[0]!.n).toBe(before);
    // Twin: naming one's own agency explicitly is the default, and accepted.
    const own = await post(
      'doctor@city-hospital',
      `/v1/subjects/${alan}/consents`,
      consentBody([{ agency: 'city-hospital' }], { disclosers: ['city-hospital'] }),
    );
    expect(own.status, own.text).toBe(201);
    expect(own.body.disclosers).toEqual(['city-hospital']);
  });

  it("doctor@city-hospital's consent naming every police agency does not give the records clerk Harbor's diagnosis of Alan", async () => {
    const consent = await post('doctor@city-hospital', `/v1/subjects/${alan}/consents`, consentBody([{ agencyKind: 'police' }]));
    expect(consent.status, consent.text).toBe(201);
    for (const who of ['clerk@metro-police', 'officer@metro-police'] as const) {
      const res = await read(who, alan);
      expect(res.status, res.text).toBe(200);
      expect(res.body.subject.entries).toEqual([]);
      expect(res.text).not.toContain(ALAN.diagnosis);
      expect(res.text).not.toContain(ALAN.psychotherapy);
    }
  });

  it("twin: Harbor's own consent naming City Hospital lifts the doctor to intermediate for Harbor's entries (never the full tier)", async () => {
    const p = await harborPerson();
    const before = await read('doctor@city-hospital', p.id);
    expectNoMarkers(before, p.all);
    const consent = await post('clinician@harbor-mh', `/v1/subjects/${p.id}/consents`, consentBody([{ agency: 'city-hospital' }]));
    expect(consent.status, consent.text).toBe(201);
    expect(consent.body.disclosers).toEqual(['harbor-mh']);
    const res = await read('doctor@city-hospital', p.id);
    expect(res.body.access).toEqual({
      tier: 'intermediate',
      basis: expect.arrayContaining([
        { tier: 'basic', rule: 'partner-read' },
        { tier: 'intermediate', rule: 'consent', consentId: consent.body.id },
      ]),
      withheld: ['full'],
    });
    expect(summaries(res)).toEqual([p.m.diagnosis]);
    expectNoMarkers(res, [p.m.fullNote, p.m.psychotherapy, p.m.psychotherapyIntermediate, p.m.substanceUse]);
  });
});

describe('3. sensitive categories stay with their consent', () => {
  it('an intermediate-only consent listing psychotherapy notes does not release a full-tier psychotherapy note once a case exists', async () => {
    const p = await harborPerson();
    await post(
      'clinician@harbor-mh',
      `/v1/subjects/${p.id}/consents`,
      consentBody([{ agency: 'city-hospital' }], { sensitiveCategories: ['psychotherapy-notes'] }),
    ).expect(201);
    const caseId = await openCase('clinician@harbor-mh', p.id);
    await post('clinician@harbor-mh', `/v1/cases/${caseId}/members`, { user: 'doctor@city-hospital' }).expect(201);
    const res = await read('doctor@city-hospital', p.id);
    expect(res.status, res.text).toBe(200);
    expect(res.body.access.tier).toBe('full');
    // The consent releases the intermediate psychotherapy note it names; the case the full note.
    expect(summaries(res).sort()).toEqual([p.m.diagnosis, p.m.fullNote, p.m.psychotherapyIntermediate].sort());
    expectNoMarkers(res, [p.m.psychotherapy, p.m.substanceUse]);
  });

  it("twin: Harbor's case with the doctor added by Harbor's clinician gives the doctor Harbor's full note, never the psychotherapy note", async () => {
    const p = await harborPerson();
    const caseId = await openCase('clinician@harbor-mh', p.id);
    await post('clinician@harbor-mh', `/v1/cases/${caseId}/members`, { user: 'doctor@city-hospital' }).expect(201);
    const res = await read('doctor@city-hospital', p.id);
    expect(res.body.access.tier).toBe('full');
    expect(res.body.access.basis).toContainEqual({ tier: 'full', rule: 'open-case-member', caseId });
    expect(summaries(res).sort()).toEqual([p.m.diagnosis, p.m.fullNote].sort());
    expectNoMarkers(res, [p.m.psychotherapy, p.m.psychotherapyIntermediate, p.m.substanceUse]);
  });

  it("peer@harbor-mh does not read a clinician's psychotherapy notes, and the access block says what it carries", async () => {
    const res = await read('peer@harbor-mh', alan);
    expect(res.status, res.text).toBe(200);
    expect(summaries(res)).toEqual([ALAN.diagnosis]);
    expect(res.text).not.toContain(ALAN.psychotherapy);
    expect(res.body.access).toEqual({
      tier: 'intermediate',
      basis: [
        { tier: 'basic', rule: 'partner-read' },
        { tier: 'intermediate', rule: 'own-contribution' },
      ],
      withheld: ['full'],
    });
    // On a person with full-tier entries, the tier is full and said to rest on own contribution.
    const p = await harborPerson();
    const full = await read('peer@harbor-mh', p.id);
    expect(summaries(full).sort()).toEqual([p.m.diagnosis, p.m.fullNote].sort());
    expectNoMarkers(full, [p.m.psychotherapy, p.m.psychotherapyIntermediate, p.m.substanceUse]);
    expect(full.body.access).toEqual({
      tier: 'full',
      basis: expect.arrayContaining([
        { tier: 'basic', rule: 'partner-read' },
        { tier: 'intermediate', rule: 'own-contribution' },
        { tier: 'full', rule: 'own-contribution' },
      ]),
      withheld: [],
    });
    expect(full.body.access.basis).toHaveLength(3);
    const log = await logOf(full);
    expect(log[0]).toMatchObject({ tier: 'full' });
  });

  it('twin: the author reads its own psychotherapy note, on an author basis', async () => {
    const res = await read('clinician@harbor-mh', alan);
    expect(summaries(res)).toEqual(expect.arrayContaining([ALAN.diagnosis, ALAN.psychotherapy]));
    expect(res.body.access.tier).toBe('full');
    expect(res.body.access.basis).toContainEqual({ tier: 'full', rule: 'author' });
  });
});

describe('2. ownership of cases and consents', () => {
  it("a hospital member of Harbor's case cannot remove Harbor's clinician, cannot close the case, and the officer it adds reads nothing of Harbor's", async () => {
    const p = await harborPerson();
    const caseId = await openCase('clinician@harbor-mh', p.id);
    await post('clinician@harbor-mh', `/v1/cases/${caseId}/members`, { user: 'doctor@city-hospital' }).expect(201);
    const harborClinician = (await database.admin("SELECT id FROM users WHERE username = 'clinician@harbor-mh'")).rows[0]!.id as string;

    const removal = await request(t.app).delete(`/v1/cases/${caseId}/members/${harborClinician}`).set(auth('doctor@city-hospital'));
    expectProblem(removal, 403);
    expect(await logOf(removal)).toEqual([expect.objectContaining({ action: 'case.member.remove', decision: 'deny', reason: 'no-rule:remove:CaseMember' })]);
    expect((await read('clinician@harbor-mh', p.id)).body.access.basis).toContainEqual({ tier: 'full', rule: 'open-case-member', caseId });

    // Adding is a member's right, but a member the hospital adds gets nothing of Harbor's.
    const added = await post('doctor@city-hospital', `/v1/cases/${caseId}/members`, { user: 'officer@metro-police' });
    expect(added.status, added.text).toBe(201);
    const officer = await read('officer@metro-police', p.id);
    expect(officer.body.access).toEqual({ tier: 'basic', basis: [{ tier: 'basic', rule: 'partner-read' }], withheld: ['intermediate', 'full'] });
    expectNoMarkers(officer, p.all);
    expect(officer.text).not.toContain(caseId);

    const closing = await post('doctor@city-hospital', `/v1/cases/${caseId}/close`);
    expectProblem(closing, 403);
    expect(await logOf(closing)).toEqual([expect.objectContaining({ action: 'case.close', decision: 'deny', reason: 'no-rule:close:Case' })]);
    expect((await database.admin('SELECT status FROM cases WHERE id = $1', [caseId])).rows[0]!.status).toBe('open');

    // Twins: the officer Harbor's clinician adds reads Harbor's full note; Harbor closes its case.
    const other = await harborPerson();
    const harborCase = await openCase('clinician@harbor-mh', other.id);
    await post('clinician@harbor-mh', `/v1/cases/${harborCase}/members`, { user: 'officer@metro-police' }).expect(201);
    const legit = await read('officer@metro-police', other.id);
    expect(summaries(legit).sort()).toEqual([other.m.diagnosis, other.m.fullNote].sort());
    expectNoMarkers(legit, [other.m.psychotherapy, other.m.psychotherapyIntermediate, other.m.substanceUse]);
    // The doctor may leave the case it was added to; Harbor, the owner, closes it.
    const doctorId = (await database.admin("SELECT id FROM users WHERE username = 'doctor@city-hospital'")).rows[0]!.id as string;
    expect((await request(t.app).delete(`/v1/cases/${caseId}/members/${doctorId}`).set(auth('doctor@city-hospital'))).status).toBe(200);
    expect((await post('clinician@harbor-mh', `/v1/cases/${caseId}/close`)).status).toBe(200);
  });

  it("a member the hospital adds in the same clock tick as Harbor's joining reads nothing of Harbor's: the team's order decides, not the timestamps", async () => {
    // PGlite's clock ticks in milliseconds: an addition right after the case opened may carry the
    // very timestamp of Harbor's joining. The membership row is written as the API would, with
    // that timestamp forced, so the tie is certain on both databases.
    const p = await harborPerson();
    const caseId = await openCase('clinician@harbor-mh', p.id);
    await post('clinician@harbor-mh', `/v1/cases/${caseId}/members`, { user: 'doctor@city-hospital' }).expect(201);
    // Harbor's joined_at exactly (copied in SQL: a JS Date would drop the microseconds).
    const addMember = (order: 'default' | 'null', when: 'tie' | 'a minute before') =>
      database.admin(
        `INSERT INTO case_members (case_id, user_id, added_by, added_at${order === 'null' ? ', team_order' : ''})
         SELECT $1, o.id, d.id, p.joined_at - $2::interval${order === 'null' ? ', NULL' : ''}
           FROM users o, users d, case_participants p
          WHERE o.username = 'officer@metro-police' AND d.username = 'doctor@city-hospital' AND p.case_id = $1`,
        [caseId, when === 'tie' ? '0' : '1 minute'],
      );
    await addMember('default', 'tie');
    const officer = await read('officer@metro-police', p.id);
    expect(officer.status).toBe(200);
    expect(officer.body.access.tier).toBe('basic');
    expectNoMarkers(officer, p.all);

    // Rows from before the order existed fall back to the timestamps, strictly: a tie releases
    // nothing, an addition before Harbor joined (the twin) releases Harbor's full note.
    await database.admin(
      "UPDATE case_members SET removed_at = now() WHERE case_id = $1 AND user_id = (SELECT id FROM users WHERE username = 'officer@metro-police')",
      [caseId],
    );
    await addMember('null', 'tie');
    expectNoMarkers(await read('officer@metro-police', p.id), p.all);
    await database.admin(
      "UPDATE case_members SET removed_at = now() WHERE case_id = $1 AND user_id = (SELECT id FROM users WHERE username = 'officer@metro-police') AND removed_at IS NULL",
      [caseId],
    );
    await addMember('null', 'a minute before');
    const earlier = await read('officer@metro-police', p.id);
    expect(summaries(earlier).sort()).toEqual([p.m.diagnosis, p.m.fullNote].sort());
  });

  it('the hospital joins a case from its own agency: only then do its entries come in, and never for the officer Harbor did not add', async () => {
    const p = await harborPerson();
    const hospitalNote = `HOSPNOTE-${p.id.slice(0, 8)}`;
    await post('doctor@city-hospital', `/v1/subjects/${p.id}/entries`, { kind: 'note', tier: 'full', summary: hospitalNote }).expect(201);
    const caseId = await openCase('clinician@harbor-mh', p.id);
    await post('clinician@harbor-mh', `/v1/cases/${caseId}/members`, { user: 'doctor@city-hospital' }).expect(201);
    expect((await read('clinician@harbor-mh', p.id)).text).not.toContain(hospitalNote);
    const joined = await post('doctor@city-hospital', `/v1/cases/${caseId}/participants`);
    expect(joined.status, joined.text).toBe(201);
    expect(joined.body.participants.map((x: { agency: string }) => x.agency)).toEqual(['harbor-mh', 'city-hospital']);
    expect((await read('clinician@harbor-mh', p.id)).text).toContain(hospitalNote);
    // The peer is not on the team: neither agency's case entries reach it (its own agency's do).
    const peer = await read('peer@harbor-mh', p.id);
    expect(peer.text).not.toContain(hospitalNote);
  });

  it('the hospital cannot revoke a consent Harbor recorded; Harbor can', async () => {
    const { rows } = await database.admin('SELECT id FROM consents WHERE subject_id = $1 AND revoked_at IS NULL', [ada]);
    const consentId = rows[0]!.id as string;
    const refused = await post('doctor@city-hospital', `/v1/consents/${consentId}/revoke`, { reason: 'not mine' });
    expectProblem(refused, 403);
    expect(await logOf(refused)).toEqual([
      expect.objectContaining({ action: 'consent.revoke', decision: 'deny', reason: 'no-rule:revoke:Consent', subject_id: ada }),
    ]);
    expect((await database.admin('SELECT revoked_at FROM consents WHERE id = $1', [consentId])).rows[0]!.revoked_at).toBeNull();
    expect((await read('clerk@metro-police', ada)).body.access.tier).toBe('intermediate');

    const p = await harborPerson();
    const mine = await post('clinician@harbor-mh', `/v1/subjects/${p.id}/consents`, consentBody([{ agency: 'city-hospital' }]));
    const revoked = await post('clinician@harbor-mh', `/v1/consents/${mine.body.id}/revoke`, { reason: 'Withdrawn by the patient' });
    expect(revoked.status, revoked.text).toBe(200);
    expect(revoked.body).toMatchObject({ status: 'revoked', disclosers: ['harbor-mh'] });
  });

  it("a clinician of an uninvolved agency lists none of a person's consents: no witness, reason or category leaves", async () => {
    for (const id of [ada, grace]) {
      const res = await request(t.app).get(`/v1/subjects/${id}/consents`).set(auth(lakeside));
      expect(res.status, res.text).toBe(200);
      expect(res.body).toEqual({ consents: [] });
      expect(await logOf(res)).toEqual([expect.objectContaining({ action: 'consent.read', decision: 'allow', detail: { consents: [] } })]);
    }
    // Harbor is no party to Grace's consent (the hospital recorded it, for the police).
    expect((await request(t.app).get(`/v1/subjects/${grace}/consents`).set(auth('clinician@harbor-mh'))).body).toEqual({ consents: [] });
  });

  it('twin: the recipient and the discloser list the consent; the listing is logged and counts in the accounting of disclosures', async () => {
    const res = await request(t.app).get(`/v1/subjects/${ada}/consents`).set(auth('doctor@city-hospital'));
    expect(res.status, res.text).toBe(200);
    expect(res.body.consents).toEqual([
      expect.objectContaining({ disclosers: ['harbor-mh'], evidence: expect.objectContaining({ reference: ADA.reference }) }),
    ]);
    const [entry] = await logOf(res);
    expect(entry).toMatchObject({ action: 'consent.read', decision: 'allow', subject_id: ada });
    const own = await request(t.app).get(`/v1/subjects/${grace}/consents`).set(auth('doctor@city-hospital'));
    expect(own.body.consents).toEqual([expect.objectContaining({ status: 'revoked', disclosers: ['city-hospital'] })]);

    const accounting = await request(t.app).get(`/v1/audit/subjects/${ada}/disclosures`).set(auth('compliance@gateway'));
    expect(accounting.status, accounting.text).toBe(200);
    const listed = (accounting.body.disclosures as { eventId: string; action: string; kinds: string[]; disclosedBy: string[] }[]).find(
      (d) => d.eventId === entry!.id,
    );
    expect(listed).toMatchObject({ action: 'consent.read', kinds: ['consents'], disclosedBy: ['harbor-mh'] });
    // The uninvolved agency's empty listings disclosed nothing and are not in it.
    expect(accounting.text).not.toContain(lakeside.username);
  });
});

describe('7. 42 CFR Part 2: the redisclosure notice', () => {
  it('police reading Ada get the 2.32 notice with the words on use against the patient; the doctor the concise one; Harbor none', async () => {
    const clerk = await read('clerk@metro-police', ada);
    expect(summaries(clerk)).toContain(ADA.substanceUse);
    expect(clerk.body.access.notices).toEqual([{ code: '42-cfr-2.32', statement: 1, text: expect.stringContaining('against the patient') }]);
    expect(clerk.body.access.notices[0].text).toContain('42 CFR part 2');
    const doctor = await read('doctor@city-hospital', ada);
    expect(summaries(doctor)).toContain(ADA.substanceUse);
    expect(doctor.body.access.notices).toEqual([
      { code: '42-cfr-2.32', statement: 2, text: '42 CFR part 2 prohibits unauthorized use or disclosure of these records.' },
    ]);
    // Harbor's own record is no redisclosure; Grace's read carries no Part 2 record.
    const harbor = await read('clinician@harbor-mh', ada);
    expect(summaries(harbor)).toContain(ADA.substanceUse);
    expect(harbor.body.access).not.toHaveProperty('notices');
    expect((await read('clerk@metro-police', grace)).body.access).not.toHaveProperty('notices');

    const accounting = await request(t.app).get(`/v1/audit/subjects/${ada}/disclosures`).set(auth('compliance@gateway'));
    const [clerkEntry] = await logOf(clerk);
    const disclosure = (accounting.body.disclosures as { eventId: string; notices?: unknown[] }[]).find((d) => d.eventId === clerkEntry!.id);
    expect(disclosure?.notices).toEqual([{ code: '42-cfr-2.32', statement: 1, text: expect.stringContaining('against the patient') }]);
  });
});

describe('8. bugs found on the way', () => {
  it('HEAD on a person route is refused (405, Allow) and logged as nothing; GET is the logged disclosure', async () => {
    for (const [path, allow] of [
      [`/v1/subjects/${ada}`, 'GET'],
      [`/v1/subjects/${ada}/risk-flags`, 'GET, POST'],
      [`/v1/subjects/${ada}/consents`, 'GET, POST'],
      ['/v1/subjects?name=Lovelace&dob=1985-02-03', 'GET, POST'],
    ] as const) {
      const res = await request(t.app).head(path).set(auth('clinician@harbor-mh'));
      expect(res.status, path).toBe(405);
      expect(res.headers.allow).toBe(allow);
      expect(res.text ?? '').toBe('');
      expect(await logOf(res)).toEqual([]);
    }
    const get = await read('clinician@harbor-mh', ada);
    expect(get.status).toBe(200);
    expect(await logOf(get)).toEqual([expect.objectContaining({ action: 'subject.read', decision: 'allow' })]);
  });

  it('consent dates in the years 0000-0099 are refused (400 problem) and record nothing; a date this century is kept exactly', async () => {
    for (const validFrom of ['0050-01-01T00:00:00Z', '0000-06-01T00:00:00Z', '0099-12-31T23:59:59Z']) {
      const res = await post('clinician@harbor-mh', `/v1/subjects/${ada}/consents`, consentBody([{ agency: 'city-hospital' }], { validFrom }));
      expectProblem(res, 400);
      expect(res.body.errors).toEqual([expect.objectContaining({ path: 'validFrom' })]);
    }
    const ok = await post(
      'clinician@harbor-mh',
      `/v1/subjects/${ada}/consents`,
      consentBody([{ agency: 'city-hospital' }], { validUntil: '2099-12-31T00:00:00Z' }),
    );
    expect(ok.status, ok.text).toBe(201);
    expect(ok.body.validUntil).toBe('2099-12-31T00:00:00.000Z');
  });
});
