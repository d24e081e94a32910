import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectNoMarkers } from '../helpers/assertions.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { openTestDatabase, type TestDatabase } from '../helpers/db.js';
import { bearer, createAgency, createConsent, createEntry, createSubject, createUser, type TestUser } from '../helpers/factories.js';

// Endpoint tests for /v1/subjects: search, create, read, risk flags and entries. Every allowed
// call has its refused twin, and every refusal is checked to leave no row and one log entry.

let database: TestDatabase;
let t: TestApp;
let mhClinician: TestUser;
let peer: TestUser;
let hospClinician: TestUser;
let socialWorker: TestUser;
let officer: TestUser;
let clerk: TestUser;
let dispatcher: TestUser;
let compliance: TestUser;
let admin: TestUser;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const BASIC_KEYS = ['birthDate', 'familyName', 'givenName', 'id', 'sex'];
// A search result: the basic fields, how well it matches, and what tells look-alikes apart.
const RESULT_KEYS = [...BASIC_KEYS, 'addedBy', 'contributingAgencies', 'grade', 'identifiers', 'reasons', 'riskFlagCount', 'score'].sort();

/** The access-log rows a response's request wrote, found by its X-Request-Id. */
async function logOf(res: request.Response) {
  const id = res.headers['x-request-id'];
  expect(id).toBeTruthy();
  return (await database.admin('SELECT * FROM access_log WHERE request_id = $1 ORDER BY seq', [id])).rows;
}

async function count(sql: string, params: unknown[] = []): Promise<number> {
  const { rows } = await database.admin(sql, params);
  return Number(rows[0]!.n);
}

function expectProblem(res: request.Response, status: number) {
  expect(res.status, res.text).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.body.status).toBe(status);
}

beforeAll(async () => {
  database = await openTestDatabase();
  t = await createTestApp(database.app);
  const db = t.deps.db;
  const [mh, hosp, police, gw] = await Promise.all([
    createAgency(db, 'mental_health'),
    createAgency(db, 'hospital'),
    createAgency(db, 'police'),
    createAgency(db, 'gateway'),
  ]);
  [mhClinician, peer, hospClinician, socialWorker, officer, clerk, dispatcher, compliance, admin] = await Promise.all([
    createUser(t.deps, mh, 'clinician'),
    createUser(t.deps, mh, 'peer_specialist'),
    createUser(t.deps, hosp, 'clinician'),
    createUser(t.deps, hosp, 'social_worker'),
    createUser(t.deps, police, 'officer'),
    createUser(t.deps, police, 'records_staff'),
    createUser(t.deps, police, 'dispatcher'),
    createUser(t.deps, gw, 'compliance_officer'),
    createUser(t.deps, gw, 'admin'),
  ]);
});
afterAll(() => database?.close());

describe('POST /v1/subjects', () => {
  const body = { givenName: 'Ada', familyName: 'Createtest', birthDate: '1985-02-03', sex: 'female' };

  it('a clinician creates a subject: 201 {id,…} as SPEC, one row, one allow entry', async () => {
    const res = await request(t.app).post('/v1/subjects').set(bearer(mhClinician)).send(body);
    expect(res.status, res.text).toBe(201);
    expect(res.body.id).toMatch(UUID);
    expect(res.body).toMatchObject(body);
    const { rows } = await database.admin(
      'SELECT given_name, family_name, birth_date::text AS birth_date, sex, agency_id, created_by FROM subjects WHERE id = $1',
      [res.body.id],
    );
    expect(rows).toEqual([
      {
        given_name: 'Ada',
        family_name: 'Createtest',
        birth_date: '1985-02-03',
        sex: 'female',
        agency_id: mhClinician.agencyId,
        created_by: mhClinician.userId,
      },
    ]);
    const log = await logOf(res);
    expect(log).toHaveLength(1);
    expect(log[0]).toMatchObject({ action: 'subject.create', decision: 'allow', subject_id: res.body.id, actor_user_id: mhClinician.userId });
  });

  it('a hospital clinician and a hospital social worker may contribute subjects too', async () => {
    for (const u of [hospClinician, socialWorker]) {
      const res = await request(t.app)
        .post('/v1/subjects')
        .set(bearer(u))
        .send({ ...body, familyName: `By${u.role.replace('_', '')}` });
      expect(res.status, res.text).toBe(201);
    }
  });

  it.each([
    ['officer', () => officer],
    ['records_staff', () => clerk],
    ['dispatcher', () => dispatcher],
    ['peer_specialist', () => peer],
    ['compliance_officer', () => compliance],
    ['admin', () => admin],
  ])('a %s may not create a subject: 403, no row, one deny entry', async (_role, who) => {
    const before = await count('SELECT count(*) AS n FROM subjects');
    const res = await request(t.app)
      .post('/v1/subjects')
      .set(bearer(who()))
      .send({ ...body, familyName: 'Refused' });
    expectProblem(res, 403);
    expect(await count('SELECT count(*) AS n FROM subjects')).toBe(before);
    const log = await logOf(res);
    expect(log).toHaveLength(1);
    expect(log[0]).toMatchObject({ action: 'subject.create', decision: 'deny', reason: 'no-rule:create:Subject', actor_user_id: who().userId });
  });

  it('no token: 401 and nothing created', async () => {
    const before = await count('SELECT count(*) AS n FROM subjects');
    const res = await request(t.app).post('/v1/subjects').send(body);
    expectProblem(res, 401);
    expect(await count('SELECT count(*) AS n FROM subjects')).toBe(before);
  });

  it.each([
    ['a missing field', { givenName: 'Ada', familyName: 'Bad', birthDate: '1985-02-03' }],
    ['an unknown field', { ...body, familyName: 'Bad', ssn: '123-45-6789' }],
    ['an impossible date', { ...body, familyName: 'Bad', birthDate: '1985-02-30' }],
    ['a future birth date', { ...body, familyName: 'Bad', birthDate: '2999-01-01' }],
    ['an unknown sex', { ...body, familyName: 'Bad', sex: 'x' }],
    ['an empty name', { ...body, familyName: '   ' }],
  ])('bad input (%s) gets 400 problem+json and changes nothing', async (_what, bad) => {
    const before = await count('SELECT count(*) AS n FROM subjects');
    const res = await request(t.app).post('/v1/subjects').set(bearer(mhClinician)).send(bad);
    expectProblem(res, 400);
    expect(Array.isArray(res.body.errors)).toBe(true);
    expect(await count('SELECT count(*) AS n FROM subjects')).toBe(before);
  });
});

describe('GET /v1/subjects?name=&dob=', () => {
  let ada: { id: string };
  let augusta: { id: string };
  let markers: string[];

  beforeAll(async () => {
    const db = t.deps.db;
    ada = await createSubject(db, mhClinician, { givenName: 'Ada', familyName: 'Lovelace', birthDate: '1985-02-03', sex: 'female' });
    augusta = await createSubject(db, mhClinician, { givenName: 'Augusta', familyName: 'Lovelace', birthDate: '1985-02-03', sex: 'female' });
    await createSubject(db, mhClinician, { givenName: 'Ada', familyName: 'Lovelace', birthDate: '1990-01-01', sex: 'female' });
    markers = (
      await Promise.all([
        createEntry(db, ada.id, hospClinician, 'intermediate'),
        createEntry(db, ada.id, hospClinician, 'full'),
        createEntry(db, ada.id, hospClinician, 'intermediate', ['substance-use']),
      ])
    ).map((e) => e.marker);
  });

  it('returns only the basic fields of the subjects with that family name and date of birth, case-insensitively', async () => {
    for (const name of ['Lovelace', 'LOVELACE', 'lovelace']) {
      const res = await request(t.app).get('/v1/subjects').query({ name, dob: '1985-02-03' }).set(bearer(dispatcher));
      expect(res.status, res.text).toBe(200);
      expect(Object.keys(res.body)).toEqual(['subjects', 'truncated']);
      expect(res.body.truncated).toBe(false);
      expect(res.body.subjects.map((s: { id: string }) => s.id).sort()).toEqual([ada.id, augusta.id].sort());
      for (const s of res.body.subjects) expect(Object.keys(s).sort()).toEqual(RESULT_KEYS);
      expectNoMarkers(res, markers);
    }
  });

  it('"given family" puts the person first, certain, in any case; a namesake sister of the same birth date is not offered', async () => {
    const res = await request(t.app).get('/v1/subjects?name=ada%20LOVELACE&dob=1985-02-03').set(bearer(clerk));
    expect(res.status, res.text).toBe(200);
    expect(res.body.subjects).toHaveLength(1);
    expect(res.body.subjects[0]).toMatchObject({
      id: ada.id,
      givenName: 'Ada',
      familyName: 'Lovelace',
      birthDate: '1985-02-03',
      sex: 'female',
      grade: 'certain',
    });
    expectNoMarkers(res, markers);
  });

  it('finds the person through re-typing: "Ada" alone, "Lovelac", day and month swapped, one digit off; ranks the exact match first; a different person finds nobody', async () => {
    const first = async (q: string) => {
      const res = await request(t.app).get(`/v1/subjects?${q}`).set(bearer(officer));
      expect(res.status, res.text).toBe(200);
      return res.body.subjects as { id: string; grade: string; score: number }[];
    };
    for (const q of ['name=Ada&dob=1985-02-03', 'name=Lovelac&dob=1985-02-03', 'name=Ada%20Lovelace&dob=1985-03-02', 'name=Ada%20Lovelace&dob=1985-02-04']) {
      // (The creation tests above added another Ada Lovelace of the same birth date: equal scores.)
      const found = await first(q);
      const best = found.filter((f) => f.score === found[0]!.score);
      expect(
        best.map((f) => f.id),
        q,
      ).toContain(ada.id);
      expect(['certain', 'probable', 'possible']).toContain(found[0]!.grade);
    }
    const ranked = await first('name=Lovelace&dob=1985-02-03');
    expect(ranked.map((r) => r.score)).toEqual([...ranked.map((r) => r.score)].sort((a, b) => b - a));
    for (const q of ['name=Babbage&dob=1985-02-03', 'name=Ada%20Lovelace&dob=1955-07-21']) expect(await first(q), q).toEqual([]);
  });

  it('a search that matches more than 20 people returns the first 20 and says so (truncated: true); the log names only those shown', async () => {
    const many = [];
    for (let i = 0; i < 21; i++)
      many.push(
        await createSubject(t.deps.db, mhClinician, { givenName: `Twin${String(i).padStart(2, '0')}`, familyName: 'Manyfold', birthDate: '1999-09-09' }),
      );
    const res = await request(t.app).get('/v1/subjects').query({ name: 'Manyfold', dob: '1999-09-09' }).set(bearer(clerk));
    expect(res.status, res.text).toBe(200);
    expect(res.body.truncated).toBe(true);
    expect(res.body.subjects).toHaveLength(20);
    const shown = res.body.subjects.map((x: { id: string }) => x.id);
    const hidden = many.map((m) => m.id).filter((id) => !shown.includes(id));
    expect(hidden).toHaveLength(1);
    expect(res.text).not.toContain(hidden[0]);
    const log = await logOf(res);
    expect((log[0]!.detail as { matches: string[]; truncated: boolean }).matches.sort()).toEqual([...shown].sort());
    expect(log[0]!.detail).toMatchObject({ truncated: true });
    // Twin: a search that is not cut says so too.
    const exact = await request(t.app).get('/v1/subjects').query({ name: 'Twin00 Manyfold', dob: '1999-09-09' }).set(bearer(clerk));
    expect(exact.body).toMatchObject({ truncated: false });
  });

  it('a search that finds nobody is logged too, as disclosing no one; one that is not cut does not say truncated', async () => {
    const none = await request(t.app).get('/v1/subjects?name=Nobody&dob=1901-01-01').set(bearer(officer));
    expect(none.body).toEqual({ subjects: [], truncated: false });
    const [entry, ...more] = await logOf(none);
    expect(more).toHaveLength(0);
    expect(entry).toMatchObject({ action: 'subject.search', decision: 'allow', tier: 'basic', subject_id: null, detail: { matches: [] } });
    const some = await request(t.app).get('/v1/subjects?name=Lovelace&dob=1985-02-03').set(bearer(officer));
    expect(Object.keys((await logOf(some))[0]!.detail as object)).toEqual(['matches']);
  });

  it('logs which records were disclosed, not the search terms', async () => {
    const res = await request(t.app).get('/v1/subjects?name=Lovelace&dob=1985-02-03').set(bearer(officer));
    const log = await logOf(res);
    expect(log).toHaveLength(1);
    expect(log[0]).toMatchObject({ action: 'subject.search', decision: 'allow', tier: 'basic', actor_user_id: officer.userId });
    expect((log[0]!.detail as { matches: string[] }).matches.sort()).toEqual([ada.id, augusta.id].sort());
    expect(JSON.stringify(log[0])).not.toMatch(/lovelace/i);
  });

  it.each([
    ['compliance_officer', () => compliance],
    ['admin', () => admin],
  ])('a %s may not search: 403, no names, and the refusal is logged', async (_role, who) => {
    const res = await request(t.app).get('/v1/subjects?name=Lovelace&dob=1985-02-03').set(bearer(who()));
    expectProblem(res, 403);
    expect(res.text).not.toContain(ada.id);
    expect(res.text).not.toMatch(/Ada|Augusta/);
    const log = await logOf(res);
    expect(log).toHaveLength(1);
    expect(log[0]).toMatchObject({ action: 'subject.search', decision: 'deny', reason: 'no-rule:search:Subject' });
  });

  it('needs both name and a valid date of birth (400)', async () => {
    for (const q of ['name=Lovelace', 'dob=1985-02-03', 'name=Lovelace&dob=03-02-1985', 'name=Lovelace&dob=1985-02-03&extra=1']) {
      const res = await request(t.app).get(`/v1/subjects?${q}`).set(bearer(officer));
      expectProblem(res, 400);
    }
  });
});

// A long record has its entries' facts read after the decision, narrowed by the grants (more
// than 64 entries; fewer come with the policy context): the same entries must come out.
describe('GET /v1/subjects/:id of a long record', () => {
  it('carries exactly the entries the policy releases, whoever reads', async () => {
    const person = await createSubject(t.deps.db, mhClinician, { givenName: 'Long', familyName: 'Record', birthDate: '1970-07-07' });
    const mhIntermediate: { id: string; marker: string }[] = [];
    const mhFull: { id: string; marker: string }[] = [];
    const hospital: { id: string; marker: string }[] = [];
    for (let i = 0; i < 35; i++) mhIntermediate.push(await createEntry(t.deps.db, person.id, mhClinician, 'intermediate'));
    for (let i = 0; i < 30; i++) mhFull.push(await createEntry(t.deps.db, person.id, mhClinician, 'full'));
    for (let i = 0; i < 5; i++) hospital.push(await createEntry(t.deps.db, person.id, hospClinician, 'intermediate'));
    await createConsent(t.deps.db, person.id, mhClinician, { kinds: ['police'] });
    const ids = (xs: { id: string }[]) => xs.map((x) => x.id).sort();
    const markers = (xs: { marker: string }[]) => xs.map((x) => x.marker);

    const byClerk = await request(t.app).get(`/v1/subjects/${person.id}`).set(bearer(clerk));
    expect(byClerk.status, byClerk.text).toBe(200);
    expect(byClerk.body.subject.entries.map((e: { id: string }) => e.id).sort()).toEqual(ids(mhIntermediate));
    expectNoMarkers(byClerk, [...markers(mhFull), ...markers(hospital)]);
    expect(byClerk.body.access).toMatchObject({ tier: 'intermediate', withheld: ['full'] });
    const [entry] = await logOf(byClerk);
    expect(((entry!.detail as { entries: { id: string }[] }).entries.map((e) => e.id) ?? []).sort()).toEqual(ids(mhIntermediate));

    const byAuthor = await request(t.app).get(`/v1/subjects/${person.id}`).set(bearer(mhClinician));
    expect(byAuthor.body.subject.entries.map((e: { id: string }) => e.id).sort()).toEqual(ids([...mhIntermediate, ...mhFull]));
    expectNoMarkers(byAuthor, markers(hospital));

    const byDispatcher = await request(t.app).get(`/v1/subjects/${person.id}`).set(bearer(dispatcher));
    expect(byDispatcher.body.subject.entries).toEqual([]);
    expectNoMarkers(byDispatcher, [...markers(mhIntermediate), ...markers(mhFull), ...markers(hospital)]);
  });
});

describe('GET /v1/subjects/:id', () => {
  let subject: { id: string };
  let inter: { marker: string };
  let full: { marker: string };
  let sud: { marker: string };

  beforeAll(async () => {
    const db = t.deps.db;
    subject = await createSubject(db, mhClinician, { givenName: 'Grace', familyName: 'Hopper', birthDate: '1976-12-09', sex: 'female' });
    inter = await createEntry(db, subject.id, hospClinician, 'intermediate', [], 'diagnosis');
    full = await createEntry(db, subject.id, hospClinician, 'full');
    sud = await createEntry(db, subject.id, hospClinician, 'intermediate', ['substance-use'], 'treatment');
    await request(t.app)
      .post(`/v1/subjects/${subject.id}/risk-flags`)
      .set(bearer(officer))
      .send({ code: 'weapon-access', severity: 'high', note: 'knife' })
      .expect(201);
  });

  it('a dispatcher gets the SPEC shape at basic tier: no entries, withheld tiers by name only', async () => {
    const res = await request(t.app).get(`/v1/subjects/${subject.id}`).set(bearer(dispatcher));
    expect(res.status, res.text).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual(['access', 'subject']);
    expect(res.body.subject).toMatchObject({ id: subject.id, givenName: 'Grace', familyName: 'Hopper', birthDate: '1976-12-09', sex: 'female', entries: [] });
    expect(res.body.subject.riskFlags).toEqual([expect.objectContaining({ code: 'weapon-access', severity: 'high', note: 'knife' })]);
    expect(res.body.access).toEqual({ tier: 'basic', basis: [{ tier: 'basic', rule: 'partner-read' }], withheld: ['intermediate', 'full'] });
    expectNoMarkers(res, [inter.marker, full.marker, sud.marker]);
    const log = await logOf(res);
    expect(log).toHaveLength(1);
    expect(log[0]).toMatchObject({ action: 'subject.read', decision: 'allow', tier: 'basic', subject_id: subject.id, break_glass: false });
  });

  it('with a consent naming police, a records clerk gets intermediate: its entries, but neither full nor a sensitive category', async () => {
    const consent = await createConsent(t.deps.db, subject.id, hospClinician, { kinds: ['police'] });
    const res = await request(t.app).get(`/v1/subjects/${subject.id}`).set(bearer(clerk));
    expect(res.status, res.text).toBe(200);
    expect(res.body.access).toEqual({
      tier: 'intermediate',
      basis: expect.arrayContaining([
        { tier: 'basic', rule: 'partner-read' },
        { tier: 'intermediate', rule: 'consent', consentId: consent.id },
      ]),
      withheld: ['full'],
    });
    expect(res.body.subject.entries).toHaveLength(1);
    expect(res.text).toContain(inter.marker);
    expectNoMarkers(res, [full.marker, sud.marker]);
    // Its twin: a dispatcher of the same police agency is capped at basic whatever the consent says.
    const capped = await request(t.app).get(`/v1/subjects/${subject.id}`).set(bearer(dispatcher));
    expect(capped.body.access.tier).toBe('basic');
    expectNoMarkers(capped, [inter.marker, full.marker, sud.marker]);
  });

  it.each([
    ['compliance_officer', () => compliance],
    ['admin', () => admin],
  ])('a %s may not read a subject: 403 with no person data, logged with the subject id', async (_role, who) => {
    const res = await request(t.app).get(`/v1/subjects/${subject.id}`).set(bearer(who()));
    expectProblem(res, 403);
    expect(res.text).not.toMatch(/Grace|Hopper|weapon/);
    const log = await logOf(res);
    expect(log).toHaveLength(1);
    expect(log[0]).toMatchObject({ action: 'subject.read', decision: 'deny', subject_id: subject.id, reason: 'no-rule:read:Subject' });
  });

  it('an unknown id is 404 (logged as a denial); a malformed id is 400', async () => {
    const unknown = '00000000-0000-4000-8000-000000000000';
    const res = await request(t.app).get(`/v1/subjects/${unknown}`).set(bearer(officer));
    expectProblem(res, 404);
    expect(await logOf(res)).toEqual([expect.objectContaining({ action: 'subject.read', decision: 'deny', subject_id: unknown, reason: 'not-found' })]);
    expectProblem(await request(t.app).get('/v1/subjects/not-a-uuid').set(bearer(officer)), 400);
  });
});

describe('GET and POST /v1/subjects/:id/risk-flags', () => {
  let subject: { id: string };
  let marker: string;

  beforeAll(async () => {
    subject = await createSubject(t.deps.db, mhClinician, { familyName: 'Flagged' });
    marker = (await createEntry(t.deps.db, subject.id, hospClinician, 'full')).marker;
  });

  it('an officer adds a flag: 201 {id,…} with the SPEC fields and the contributing agency', async () => {
    const res = await request(t.app)
      .post(`/v1/subjects/${subject.id}/risk-flags`)
      .set(bearer(officer))
      .send({ code: 'weapon-access', severity: 'high', note: 'Keeps a knife.' });
    expect(res.status, res.text).toBe(201);
    expect(res.body).toMatchObject({
      id: expect.stringMatching(UUID),
      code: 'weapon-access',
      severity: 'high',
      note: 'Keeps a knife.',
      contributedBy: officer.agency,
    });
    expect(await logOf(res)).toEqual([expect.objectContaining({ action: 'risk-flag.create', decision: 'allow', subject_id: subject.id })]);
  });

  it.each([
    ['peer_specialist', () => peer],
    ['clinician', () => mhClinician],
    ['social_worker', () => socialWorker],
  ])('a %s may add a flag too', async (_role, who) => {
    const res = await request(t.app).post(`/v1/subjects/${subject.id}/risk-flags`).set(bearer(who())).send({ code: 'de-escalation', severity: 'low' });
    expect(res.status, res.text).toBe(201);
    expect(res.body.note).toBeNull();
  });

  it.each([
    ['records_staff', () => clerk],
    ['dispatcher', () => dispatcher],
    ['compliance_officer', () => compliance],
    ['admin', () => admin],
  ])('a %s may not add a flag: 403, no row, one deny entry', async (_role, who) => {
    const before = await count('SELECT count(*) AS n FROM risk_flags WHERE subject_id = $1', [subject.id]);
    const res = await request(t.app).post(`/v1/subjects/${subject.id}/risk-flags`).set(bearer(who())).send({ code: 'refused', severity: 'low' });
    expectProblem(res, 403);
    expect(await count('SELECT count(*) AS n FROM risk_flags WHERE subject_id = $1', [subject.id])).toBe(before);
    expect(await logOf(res)).toEqual([
      expect.objectContaining({ action: 'risk-flag.create', decision: 'deny', subject_id: subject.id, reason: 'no-rule:create:RiskFlag' }),
    ]);
  });

  it('bad input is 400 and an unknown subject 404; neither adds a row', async () => {
    const before = await count('SELECT count(*) AS n FROM risk_flags');
    for (const bad of [
      { code: 'Weapon Access', severity: 'high' },
      { code: 'x', severity: 'extreme' },
      { code: 'x', severity: 'low', extra: 1 },
      { severity: 'low' },
    ]) {
      expectProblem(await request(t.app).post(`/v1/subjects/${subject.id}/risk-flags`).set(bearer(officer)).send(bad), 400);
    }
    expectProblem(
      await request(t.app).post('/v1/subjects/00000000-0000-4000-8000-000000000001/risk-flags').set(bearer(officer)).send({ code: 'x', severity: 'low' }),
      404,
    );
    expect(await count('SELECT count(*) AS n FROM risk_flags')).toBe(before);
  });

  it('every partner role reads the flags, with no clinical content', async () => {
    for (const u of [dispatcher, clerk, officer, peer, socialWorker, hospClinician]) {
      const res = await request(t.app).get(`/v1/subjects/${subject.id}/risk-flags`).set(bearer(u));
      expect(res.status, res.text).toBe(200);
      expect(res.body.riskFlags.length).toBeGreaterThanOrEqual(4);
      expect(res.body.riskFlags[0]).toMatchObject({ id: expect.stringMatching(UUID), code: 'weapon-access', severity: 'high', contributedBy: officer.agency });
      expectNoMarkers(res, [marker]);
    }
  });

  it.each([
    ['compliance_officer', () => compliance],
    ['admin', () => admin],
  ])('a %s may not read flags: 403, logged', async (_role, who) => {
    const res = await request(t.app).get(`/v1/subjects/${subject.id}/risk-flags`).set(bearer(who()));
    expectProblem(res, 403);
    expect(res.text).not.toContain('weapon-access');
    expect(await logOf(res)).toEqual([expect.objectContaining({ action: 'risk-flag.read', decision: 'deny', subject_id: subject.id })]);
  });
});

describe('POST /v1/subjects/:id/entries', () => {
  let subject: { id: string };
  const entry = {
    kind: 'diagnosis',
    tier: 'intermediate',
    sensitivity: ['substance-use'],
    summary: 'ENTRYPOST opioid use disorder',
    content: { code: 'F11.20' },
  };

  beforeAll(async () => {
    subject = await createSubject(t.deps.db, mhClinician, { familyName: 'Entried' });
  });

  it('a clinician contributes an entry: 201 {id,…} as SPEC, one row, logged without content', async () => {
    const res = await request(t.app).post(`/v1/subjects/${subject.id}/entries`).set(bearer(mhClinician)).send(entry);
    expect(res.status, res.text).toBe(201);
    expect(res.body).toMatchObject({ id: expect.stringMatching(UUID), ...entry });
    const { rows } = await database.admin('SELECT kind, tier, sensitivity, summary, agency_id FROM clinical_entries WHERE id = $1', [res.body.id]);
    expect(rows).toEqual([
      { kind: 'diagnosis', tier: 'intermediate', sensitivity: ['substance-use'], summary: entry.summary, agency_id: mhClinician.agencyId },
    ]);
    const log = await logOf(res);
    expect(log).toEqual([expect.objectContaining({ action: 'entry.create', decision: 'allow', subject_id: subject.id, tier: 'intermediate' })]);
    expect(JSON.stringify(log)).not.toContain('ENTRYPOST');
    expect(JSON.stringify(log)).not.toContain('F11.20');
  });

  it('a hospital clinician may contribute a full-tier entry', async () => {
    const res = await request(t.app)
      .post(`/v1/subjects/${subject.id}/entries`)
      .set(bearer(hospClinician))
      .send({ kind: 'contact', tier: 'full', summary: 'ENTRYPOST sister', content: {} });
    expect(res.status, res.text).toBe(201);
    expect(res.body.sensitivity).toEqual([]);
  });

  it.each([
    ['peer_specialist', () => peer],
    ['officer', () => officer],
    ['dispatcher', () => dispatcher],
    ['records_staff', () => clerk],
    ['social_worker', () => socialWorker],
    ['compliance_officer', () => compliance],
  ])('a %s may not contribute entries: 403, no row, one deny entry', async (_role, who) => {
    const before = await count('SELECT count(*) AS n FROM clinical_entries WHERE subject_id = $1', [subject.id]);
    const res = await request(t.app).post(`/v1/subjects/${subject.id}/entries`).set(bearer(who())).send(entry);
    expectProblem(res, 403);
    expect(await count('SELECT count(*) AS n FROM clinical_entries WHERE subject_id = $1', [subject.id])).toBe(before);
    expect(await logOf(res)).toEqual([
      expect.objectContaining({ action: 'entry.create', decision: 'deny', subject_id: subject.id, reason: 'no-rule:create:Entry' }),
    ]);
  });

  it.each([
    ['an unknown kind', { ...entry, kind: 'gossip' }],
    ['the basic tier', { ...entry, tier: 'basic' }],
    ['an unknown category', { ...entry, sensitivity: ['hiv'] }],
    ['no summary', { kind: 'note', tier: 'full' }],
    ['content that is not an object', { ...entry, content: 'text' }],
    ['an unknown field', { ...entry, author: 'me' }],
  ])('bad input (%s) is 400 and adds nothing', async (_what, bad) => {
    const before = await count('SELECT count(*) AS n FROM clinical_entries');
    expectProblem(await request(t.app).post(`/v1/subjects/${subject.id}/entries`).set(bearer(mhClinician)).send(bad), 400);
    expect(await count('SELECT count(*) AS n FROM clinical_entries')).toBe(before);
  });

  it('an unknown subject is 404', async () => {
    expectProblem(await request(t.app).post('/v1/subjects/00000000-0000-4000-8000-000000000002/entries').set(bearer(mhClinician)).send(entry), 404);
  });

  it('the contributing agency sees its entry; a partner without consent or case does not', async () => {
    const own = await request(t.app).get(`/v1/subjects/${subject.id}`).set(bearer(mhClinician));
    expect(own.status).toBe(200);
    expect(own.body.subject.entries.map((e: { summary: string }) => e.summary)).toContain(entry.summary);
    expect(own.body.access.basis).toContainEqual({ tier: 'intermediate', rule: 'own-contribution' });
    expect(own.body.access.tier).toBe('intermediate');
    const other = await request(t.app).get(`/v1/subjects/${subject.id}`).set(bearer(officer));
    expect(other.status).toBe(200);
    expect(other.body.subject.entries).toEqual([]);
    expect(other.text).not.toContain('ENTRYPOST');
  });
});
