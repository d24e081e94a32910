import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_USERS, seedDemo } from '../../src/db/seed/demo.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { openTestDatabase, type TestDatabase } from '../helpers/db.js';

// A walkthrough of the demo tenancy of SPEC, exactly as a newcomer would try it: log in as each
// demo user with the demo password, then look at Ada Lovelace and Grace Hopper.

const PASSWORD = 'demo-walkthrough-password';
const TABLES = ['agencies', 'users', 'subjects', 'risk_flags', 'clinical_entries', 'consents', 'cases', 'case_members', 'break_glass_grants', 'access_log'];

// What the seed holds, by summary: Ada's entries, and the words of each that must not leak.
const ADA = {
  diagnosis: 'Bipolar I disorder',
  crisisPlan: 'Crisis plan: call sister first',
  substanceUse: 'Opioid use disorder, on buprenorphine',
  caseNote: 'Case note: housing instability',
  contact: 'Sister: Annabella, 555-0101',
};
const GRACE = { diagnosis: 'Major depressive disorder', admission: 'Inpatient admission after overdose' };
// City Hospital's own note on Ada, which Ada's case (Harbor's) does not carry.
const ADA_HOSPITAL_NOTE = 'ED visit: discharged to Harbor MH follow-up';
const ALAN = { diagnosis: 'Generalised anxiety disorder', psychotherapy: 'Psychotherapy session notes' };

let database: TestDatabase;
let t: TestApp;
let seeded: boolean;
const tokens: Record<string, string> = {};
let ada: string;
let grace: string;
let alan: string;

const auth = (username: string) => ({ Authorization: `Bearer ${tokens[username]}` });
const read = (username: string, id: string) => request(t.app).get(`/v1/subjects/${id}`).set(auth(username));
const summaries = (res: request.Response) => (res.body.subject.entries as { summary: string }[]).map((e) => e.summary);

async function login(username: string, password = PASSWORD) {
  return request(t.app).post('/oauth/token').type('form').send({ grant_type: 'password', username, password });
}
async function counts(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const table of TABLES) out[table] = Number((await database.admin(`SELECT count(*) AS n FROM ${table}`)).rows[0]!.n);
  return out;
}

beforeAll(async () => {
  database = await openTestDatabase();
  t = await createTestApp(database.app);
  seeded = await seedDemo(t.deps.db, PASSWORD);
  for (const u of DEMO_USERS) {
    const res = await login(u.username);
    expect(res.status, `${u.username}: ${res.text}`).toBe(200);
    tokens[u.username] = res.body.access_token;
  }
  const find = async (name: string, dob: string) => {
    const res = await request(t.app).get('/v1/subjects').query({ name, dob }).set(auth('clerk@metro-police'));
    expect(res.status, res.text).toBe(200);
    expect(res.body.subjects).toHaveLength(1);
    return res.body.subjects[0].id as string;
  };
  ada = await find('Ada Lovelace', '1985-02-03');
  grace = await find('hopper', '1976-12-09');
  alan = await find('Turing', '1982-06-23');
});
afterAll(() => database?.close());

describe('demo tenancy', () => {
  it('seeds an empty database and every demo user logs in with the demo password and no second factor', async () => {
    expect(seeded).toBe(true);
    expect(DEMO_USERS.map((u) => u.username).sort()).toEqual(
      [
        'clerk@metro-police',
        'officer@metro-police',
        'clinician@harbor-mh',
        'peer@harbor-mh',
        'doctor@city-hospital',
        'compliance@gateway',
        'admin@gateway',
      ].sort(),
    );
    const res = await login('clinician@harbor-mh');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ access_token: expect.any(String), token_type: 'Bearer', expires_in: 900 });
    const bad = await login('clinician@harbor-mh', 'wrong-password');
    expect(bad.status).toBe(400);
    expect(bad.body).toEqual({ error: 'invalid_grant', error_description: expect.any(String) });
    const { rows } = await database.admin('SELECT slug, kind FROM agencies ORDER BY slug');
    expect(rows).toEqual([
      { slug: 'city-hospital', kind: 'hospital' },
      { slug: 'gateway', kind: 'gateway' },
      { slug: 'harbor-mh', kind: 'mental_health' },
      { slug: 'metro-police', kind: 'police' },
    ]);
  });

  it('the clerk finds Ada by name and date of birth and gets basic fields only', async () => {
    const res = await request(t.app).get('/v1/subjects?name=lovelace&dob=1985-02-03').set(auth('clerk@metro-police'));
    expect(res.body.truncated).toBe(false);
    expect(res.body.subjects).toHaveLength(1);
    expect(res.body.subjects[0]).toMatchObject({
      id: ada,
      givenName: 'Ada',
      familyName: 'Lovelace',
      birthDate: '1985-02-03',
      sex: 'female',
      grade: 'probable',
    });
    // Basic facts only: what tells look-alikes apart, never an entry.
    expect(Object.keys(res.body.subjects[0]).sort()).toEqual(
      [
        'addedBy',
        'birthDate',
        'contributingAgencies',
        'familyName',
        'givenName',
        'grade',
        'id',
        'identifiers',
        'reasons',
        'riskFlagCount',
        'score',
        'sex',
      ].sort(),
    );
  });

  it.each(['clerk@metro-police', 'officer@metro-police'])(
    '%s sees Ada at intermediate through her consent, substance-use entry included, but no full-tier note or contact',
    async (username) => {
      const res = await read(username, ada);
      expect(res.status, res.text).toBe(200);
      const { rows } = await database.admin('SELECT id FROM consents WHERE subject_id = $1 AND revoked_at IS NULL', [ada]);
      expect(res.body.access.tier).toBe('intermediate');
      expect(res.body.access.withheld).toEqual(['full']);
      expect(res.body.access.basis).toHaveLength(2);
      expect(res.body.access.basis).toEqual(
        expect.arrayContaining([
          { tier: 'basic', rule: 'partner-read' },
          { tier: 'intermediate', rule: 'consent', consentId: rows[0]!.id },
        ]),
      );
      const seen = summaries(res);
      expect(seen).toHaveLength(3);
      expect(seen.some((s) => s.startsWith(ADA.diagnosis))).toBe(true);
      expect(seen.some((s) => s.startsWith(ADA.crisisPlan))).toBe(true);
      expect(seen).toContain(ADA.substanceUse);
      // Harbor's Part 2 record goes to the police with the 42 CFR 2.32 notice, statement 1.
      expect(res.body.access.notices).toEqual([{ code: '42-cfr-2.32', statement: 1, text: expect.stringContaining('against the patient') }]);
      expect(res.text).not.toContain(ADA.caseNote);
      expect(res.text).not.toContain(ADA_HOSPITAL_NOTE);
      expect(res.text).not.toContain('Annabella');
      expect(res.text).not.toContain('555-0101');
      expect(res.body.subject.riskFlags.map((f: { code: string }) => f.code).sort()).toEqual(['de-escalation', 'weapon-access']);
    },
  );

  it("clinician@harbor-mh sees Harbor's five entries on Ada in full, but not the hospital's note: the hospital has not joined the case", async () => {
    const res = await read('clinician@harbor-mh', ada);
    expect(res.status, res.text).toBe(200);
    expect(res.body.access.tier).toBe('full');
    expect(res.body.access.withheld).toEqual([]);
    expect(res.body.access.basis).toContainEqual({ tier: 'full', rule: 'open-case-member', caseId: expect.any(String) });
    // The substance-use entry is Harbor's own: released to its clinicians by own contribution, not by the case.
    expect(res.body.access.basis).toContainEqual({ tier: 'intermediate', rule: 'own-contribution' });
    expect(res.body.access).not.toHaveProperty('notices');
    expect(summaries(res)).toHaveLength(5);
    expect(res.text).toContain(ADA.caseNote);
    expect(res.text).toContain(ADA.contact);
    expect(res.text).not.toContain(ADA_HOSPITAL_NOTE);
  });

  it("peer@harbor-mh sees Harbor's four unlabelled entries on Ada at full, by own contribution, but not its 42 CFR Part 2 record", async () => {
    const res = await read('peer@harbor-mh', ada);
    expect(res.body.access).toEqual({
      tier: 'full',
      basis: [
        { tier: 'basic', rule: 'partner-read' },
        { tier: 'intermediate', rule: 'own-contribution' },
        { tier: 'full', rule: 'own-contribution' },
      ],
      withheld: [],
    });
    expect(summaries(res)).toHaveLength(4);
    expect(res.text).not.toContain(ADA.substanceUse);
    expect(res.text).not.toContain(ADA_HOSPITAL_NOTE);
  });

  it("peer@harbor-mh sees Harbor's entries on Alan but not the clinician's psychotherapy note; its author does", async () => {
    const peer = await read('peer@harbor-mh', alan);
    expect(summaries(peer)).toEqual([ALAN.diagnosis]);
    expect(peer.text).not.toContain(ALAN.psychotherapy);
    expect(peer.body.access).toEqual({
      tier: 'intermediate',
      basis: [
        { tier: 'basic', rule: 'partner-read' },
        { tier: 'intermediate', rule: 'own-contribution' },
      ],
      withheld: ['full'],
    });
    const author = await read('clinician@harbor-mh', alan);
    expect(summaries(author).sort()).toEqual([ALAN.diagnosis, ALAN.psychotherapy].sort());
    expect(author.body.access.basis).toContainEqual({ tier: 'full', rule: 'author' });
    // Nobody else: not the hospital, not the police.
    for (const username of ['doctor@city-hospital', 'officer@metro-police']) expect((await read(username, alan)).text).not.toContain(ALAN.psychotherapy);
  });

  it('doctor@city-hospital sees Ada in full through the open case, and the consent releases the substance-use entry', async () => {
    const res = await read('doctor@city-hospital', ada);
    expect(res.status, res.text).toBe(200);
    const { rows } = await database.admin("SELECT id FROM cases WHERE subject_id = $1 AND status = 'open'", [ada]);
    expect(res.body.access.tier).toBe('full');
    expect(res.body.access.withheld).toEqual([]);
    expect(res.body.access.basis).toContainEqual({ tier: 'full', rule: 'open-case-member', caseId: rows[0]!.id });
    const seen = summaries(res);
    // Harbor's five (the case was opened by Harbor, which added the doctor) and its own note.
    expect(seen).toHaveLength(6);
    expect(seen).toContain(ADA.substanceUse);
    expect(seen).toContain(ADA.contact);
    expect(seen).toContain(ADA_HOSPITAL_NOTE);
    expect(res.body.access.basis).toContainEqual({ tier: 'full', rule: 'own-contribution' });
    expect(seen.some((s) => s.startsWith(ADA.caseNote))).toBe(true);
    expect(res.body.access.notices).toEqual([
      { code: '42-cfr-2.32', statement: 2, text: '42 CFR part 2 prohibits unauthorized use or disclosure of these records.' },
    ]);
  });

  it("the consent listings: the doctor (a recipient of Ada's consent, the discloser of Grace's) sees both; the police see none", async () => {
    const adaConsents = await request(t.app).get(`/v1/subjects/${ada}/consents`).set(auth('doctor@city-hospital'));
    expect(adaConsents.body.consents).toEqual([expect.objectContaining({ status: 'active', disclosers: ['harbor-mh'] })]);
    const graceHarbor = await request(t.app).get(`/v1/subjects/${grace}/consents`).set(auth('clinician@harbor-mh'));
    expect(graceHarbor.body).toEqual({ consents: [] });
    expect((await request(t.app).get(`/v1/subjects/${ada}/consents`).set(auth('clerk@metro-police'))).status).toBe(403);
  });

  it("Grace Hopper's revoked consent leaves the police at basic", async () => {
    const { rows } = await database.admin('SELECT recipient_kinds, revoked_at FROM consents WHERE subject_id = $1', [grace]);
    expect(rows).toEqual([{ recipient_kinds: ['police'], revoked_at: expect.any(Date) }]);
    for (const username of ['clerk@metro-police', 'officer@metro-police']) {
      const res = await read(username, grace);
      expect(res.status, res.text).toBe(200);
      expect(res.body.access).toEqual({ tier: 'basic', basis: [{ tier: 'basic', rule: 'partner-read' }], withheld: ['intermediate', 'full'] });
      expect(res.body.subject.entries).toEqual([]);
      expect(res.text).not.toContain(GRACE.diagnosis);
      expect(res.text).not.toContain(GRACE.admission);
      expect(res.body.subject.riskFlags).toEqual([expect.objectContaining({ code: 'self-harm-risk', severity: 'high' })]);
    }
    const consents = await request(t.app).get(`/v1/subjects/${grace}/consents`).set(auth('doctor@city-hospital'));
    expect(consents.body.consents).toEqual([
      expect.objectContaining({ status: 'revoked', disclosers: ['city-hospital'], revocationReason: expect.any(String) }),
    ]);
  });

  it.each(['compliance@gateway', 'admin@gateway'])('%s reads no person data: 403 on search, read and risk flags', async (username) => {
    for (const path of [`/v1/subjects/${ada}`, '/v1/subjects?name=Lovelace&dob=1985-02-03', `/v1/subjects/${ada}/risk-flags`]) {
      const res = await request(t.app).get(path).set(auth(username));
      expect(res.status, `${path}: ${res.text}`).toBe(403);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.text).not.toMatch(/Lovelace|Bipolar|weapon/);
    }
  });

  it('compliance@gateway searches the access log and finds the disclosures above; admin@gateway cannot', async () => {
    const res = await request(t.app)
      .get('/v1/audit/events')
      .query({ subject: ada, actor: 'clerk@metro-police', action: 'subject.read' })
      .set(auth('compliance@gateway'));
    expect(res.status, res.text).toBe(200);
    expect(res.body.events.length).toBeGreaterThanOrEqual(1);
    expect(res.body.events[0]).toMatchObject({
      subject: ada,
      action: 'subject.read',
      decision: 'allow',
      tier: 'intermediate',
      actor: { user: 'clerk@metro-police', agency: 'metro-police', role: 'records_staff' },
    });
    expect(res.text).not.toContain(ADA.substanceUse);
    const denials = await request(t.app).get('/v1/audit/events').query({ actor: 'admin@gateway', decision: 'deny' }).set(auth('compliance@gateway'));
    expect(denials.body.events.length).toBeGreaterThanOrEqual(1);

    const refused = await request(t.app).get('/v1/audit/events').set(auth('admin@gateway'));
    expect(refused.status).toBe(403);
    expect(refused.body.events).toBeUndefined();
  });

  it('seedDemo on a non-empty database returns false and changes nothing', async () => {
    const before = await counts();
    const hashes = (await database.admin('SELECT username, password_hash FROM users ORDER BY username')).rows;
    expect(await seedDemo(t.deps.db, 'another-password-entirely')).toBe(false);
    expect(await counts()).toEqual(before);
    expect((await database.admin('SELECT username, password_hash FROM users ORDER BY username')).rows).toEqual(hashes);
    expect((await login('clerk@metro-police', 'another-password-entirely')).status).toBe(400);
    expect((await login('clerk@metro-police')).status).toBe(200);
  });
});
