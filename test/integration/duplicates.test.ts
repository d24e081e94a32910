import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { openTestDatabase, type TestDatabase } from '../helpers/db.js';
import { bearer, createAgency, createSubject, createUser, type TestUser } from '../helpers/factories.js';

// One person, one record (SPEC): the duplicate check on creation, /match, the tolerant search,
// and agency identifiers, through real HTTP on both databases.

let database: TestDatabase;
let t: TestApp;
let clinician: TestUser;
let hospital: TestUser;
let clerk: TestUser;
let officer: TestUser;
let compliance: TestUser;
let partTwo: TestUser;

type Candidate = { id: string; grade: string; score: number; reasons: string[]; givenName: string; identifiers: { system: string; value: string }[] };
const rows = (sql: string, params: unknown[] = []) => database.admin(sql, params).then((r) => r.rows);
const count = async (sql: string, params: unknown[] = []) => Number((await rows(sql, params))[0]!.n);
const logOf = (res: request.Response) => rows('SELECT * FROM access_log WHERE request_id = $1 ORDER BY seq', [res.headers['x-request-id']]);
const create = (by: TestUser, body: Record<string, unknown>) => request(t.app).post('/v1/subjects').set(bearer(by)).send(body);
const search = (by: TestUser, q: Record<string, string>) => request(t.app).get('/v1/subjects').query(q).set(bearer(by));

beforeAll(async () => {
  database = await openTestDatabase();
  t = await createTestApp(database.app);
  const db = t.deps.db;
  const [mh, hosp, police, gw, clinic] = await Promise.all([
    createAgency(db, 'mental_health'),
    createAgency(db, 'hospital'),
    createAgency(db, 'police'),
    createAgency(db, 'gateway'),
    createAgency(db, 'mental_health'),
  ]);
  await rows('UPDATE agencies SET part2_program = true WHERE id = $1', [clinic.id]);
  [clinician, hospital, clerk, officer, compliance, partTwo] = await Promise.all([
    createUser(t.deps, mh, 'clinician'),
    createUser(t.deps, hosp, 'clinician'),
    createUser(t.deps, police, 'records_staff'),
    createUser(t.deps, police, 'officer'),
    createUser(t.deps, gw, 'compliance_officer'),
    createUser(t.deps, clinic, 'clinician'),
  ]);
});

afterAll(async () => {
  await database?.close();
});

describe('creation asks first', () => {
  // Each originals' re-typed twin: a certain or probable candidate, so the creation is refused.
  const CORRUPTIONS: [string, Record<string, string>, Record<string, string>][] = [
    ['a one-letter slip', { givenName: 'Margaret', familyName: 'Hamilton', birthDate: '1936-08-17' }, { givenName: 'Margaret', familyName: 'Hamiltn' }],
    ['accents and case', { givenName: 'José', familyName: 'Núñez', birthDate: '1971-04-12' }, { givenName: 'jose', familyName: 'NUNEZ' }],
    ['a short form of the given name', { givenName: 'William', familyName: 'Shockley', birthDate: '1950-02-13' }, { givenName: 'Bill' }],
    ['given and family names swapped', { givenName: 'Grace', familyName: 'Hopper', birthDate: '1966-12-09' }, { givenName: 'Hopper', familyName: 'Grace' }],
    ['day and month swapped', { givenName: 'Alan', familyName: 'Turing', birthDate: '1982-06-03' }, { birthDate: '1982-03-06' }],
    ['one digit off', { givenName: 'Katherine', familyName: 'Johnson', birthDate: '1978-08-26' }, { birthDate: '1978-08-28' }],
    ['the year off by one', { givenName: 'Barbara', familyName: 'Liskov', birthDate: '1979-11-07' }, { birthDate: '1980-11-07' }],
  ];
  for (const [kind, original, typed] of CORRUPTIONS) {
    it(`refuses ${kind} with 409 possible-duplicate and the original among the candidates, logged and counted in the original's accounting`, async () => {
      const first = await create(clinician, { ...original, sex: 'female' });
      expect(first.status, first.text).toBe(201);
      const before = await count('SELECT count(*) AS n FROM subjects');
      const again = await create(hospital, { ...original, ...typed, sex: 'female' });
      expect(again.status, again.text).toBe(409);
      expect(again.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(again.body.type).toMatch(/possible-duplicate$/);
      const candidate = (again.body.candidates as Candidate[]).find((c) => c.id === first.body.id);
      expect(candidate, JSON.stringify(again.body.candidates)).toBeDefined();
      expect(['certain', 'probable']).toContain(candidate!.grade);
      expect(Object.keys(candidate!)).toEqual(expect.arrayContaining(['id', 'givenName', 'familyName', 'birthDate', 'sex', 'grade', 'score', 'reasons']));
      expect(candidate!.reasons.length).toBeGreaterThan(0);
      expect(await count('SELECT count(*) AS n FROM subjects')).toBe(before);
      // Logged with the candidates shown, and counted as a disclosure of the original.
      const [entry] = await logOf(again);
      expect(entry).toMatchObject({ action: 'subject.create', decision: 'allow', reason: 'possible-duplicate', subject_id: null });
      expect((entry!.detail as { matches: string[] }).matches).toContain(first.body.id);
      const accounting = await request(t.app).get(`/v1/audit/subjects/${first.body.id}/disclosures`).set(bearer(compliance));
      expect(accounting.status, accounting.text).toBe(200);
      const counted = (accounting.body.disclosures as { eventId: string; kinds: string[] }[]).find((d) => d.eventId === entry!.id);
      expect(counted?.kinds).toEqual(['demographics']);
    });
  }

  // Look-alikes: different people the check must let through.
  const LOOK_ALIKES: [string, Record<string, string>, Record<string, string>][] = [
    [
      'a twin (same family name and birth date, another given name)',
      { givenName: 'Ronald', familyName: 'Rivest', birthDate: '1987-05-06' },
      { givenName: 'Leonard' },
    ],
    ['a parent and child of the same names', { givenName: 'Donald', familyName: 'Knuth', birthDate: '1958-01-10' }, { birthDate: '1986-01-10' }],
    ['a namesake born years apart', { givenName: 'John', familyName: 'Backus', birthDate: '1964-12-03' }, { birthDate: '1971-06-21' }],
  ];
  for (const [kind, original, other] of LOOK_ALIKES) {
    it(`creates ${kind}`, async () => {
      expect((await create(clinician, { ...original, sex: 'male' })).status).toBe(201);
      const res = await create(hospital, { ...original, ...other, sex: 'male' });
      expect(res.status, res.text).toBe(201);
    });
  }

  it('notDuplicateOf with a reason creates the person, remembers each pair and logs the decision; one that leaves out a probable candidate is refused', async () => {
    const a = await create(clinician, { givenName: 'Edsger', familyName: 'Wybe', birthDate: '1930-05-11', sex: 'male' });
    const b = await createSubject(t.deps.db, clinician, { givenName: 'Edsger', familyName: 'Wybe', birthDate: '1930-11-05', sex: 'male' });
    const body = { givenName: 'Edsger', familyName: 'Wybe', birthDate: '1930-05-11', sex: 'male' };
    const refused = await create(hospital, body);
    expect(refused.status).toBe(409);
    const refusing = (refused.body.candidates as Candidate[]).filter((c) => c.grade === 'certain' || c.grade === 'probable').map((c) => c.id);
    expect(refusing).toEqual(expect.arrayContaining([a.body.id, b.id]));

    // Twin: one probable candidate left out.
    const partial = await create(hospital, { ...body, notDuplicateOf: [a.body.id], reason: 'Twin brother, born the same day, checked with the family' });
    expect(partial.status).toBe(409);
    // Without a reason: bad input, nothing created.
    expect((await create(hospital, { ...body, notDuplicateOf: refusing })).status).toBe(400);
    // Naming someone who is no candidate: bad input.
    const stranger = await createSubject(t.deps.db, clinician, { birthDate: '1940-01-01' });
    expect((await create(hospital, { ...body, notDuplicateOf: [...refusing, stranger.id], reason: 'Twin brother, checked with the family' })).status).toBe(400);

    const created = await create(hospital, { ...body, notDuplicateOf: refusing, reason: 'Twin brother, born the same day, checked with the family' });
    expect(created.status, created.text).toBe(201);
    const decisions = await rows('SELECT subject_low, subject_high, reason, decided_by FROM not_duplicate_decisions WHERE $1 IN (subject_low, subject_high)', [
      created.body.id,
    ]);
    expect(decisions).toHaveLength(refusing.length);
    for (const d of decisions) expect(d).toMatchObject({ reason: 'Twin brother, born the same day, checked with the family', decided_by: hospital.userId });
    const [entry] = await logOf(created);
    expect(entry).toMatchObject({ action: 'subject.create', decision: 'allow', subject_id: created.body.id });
    expect((entry!.detail as { notDuplicateOf: string[] }).notDuplicateOf.sort()).toEqual([...refusing].sort());
    // The reason is free text: in the decision, never in the access log.
    expect(JSON.stringify(entry)).not.toContain('Twin brother');
    // A decision is evidence: the gateway's role can neither change nor remove it.
    await expect(t.deps.db.execute(`DELETE FROM not_duplicate_decisions WHERE subject_low = '${decisions[0]!.subject_low}'` as never)).rejects.toThrow();
  });

  it('POST /v1/subjects/match answers the ranked candidates, logged and counted; a role that may not create is refused', async () => {
    const original = await create(clinician, { givenName: 'Frances', familyName: 'Allen', birthDate: '1962-08-04', sex: 'female' });
    const res = await request(t.app)
      .post('/v1/subjects/match')
      .set(bearer(hospital))
      .send({ givenName: 'Fran', familyName: 'Allen', birthDate: '1962-04-08', sex: 'female' });
    expect(res.status, res.text).toBe(200);
    const candidates = res.body.candidates as Candidate[];
    expect(candidates[0]?.id).toBe(original.body.id);
    expect(candidates.map((c) => c.score)).toEqual([...candidates.map((c) => c.score)].sort((x, y) => y - x));
    const [entry] = await logOf(res);
    expect(entry).toMatchObject({ action: 'subject.match', decision: 'allow' });
    const accounting = await request(t.app).get(`/v1/audit/subjects/${original.body.id}/disclosures`).set(bearer(compliance));
    expect((accounting.body.disclosures as { eventId: string }[]).map((d) => d.eventId)).toContain(entry!.id);

    const denied = await request(t.app)
      .post('/v1/subjects/match')
      .set(bearer(officer))
      .send({ givenName: 'Frances', familyName: 'Allen', birthDate: '1962-08-04', sex: 'female' });
    expect(denied.status).toBe(403);
    expect(denied.text).not.toContain(original.body.id);
  });
});

describe('creations at the same moment', () => {
  it.runIf(process.env.TEST_DRIVER === 'pg')('two partners creating the same person in parallel (also day and month swapped) end with one record', async () => {
    for (const [i, dates] of [
      ['1', ['1991-03-04', '1991-03-04']],
      ['2', ['1992-05-07', '1992-07-05']],
    ] as const) {
      const body = (birthDate: string) => ({ givenName: 'Racey', familyName: `Parallel${i}`, birthDate, sex: 'female' });
      const results = await Promise.all([
        ...Array.from({ length: 4 }, () => create(clinician, body(dates[0]))),
        ...Array.from({ length: 4 }, () => create(hospital, body(dates[1]))),
      ]);
      const statuses = results.map((r) => r.status).sort();
      expect(statuses, JSON.stringify(results.map((r) => r.text))).toEqual([201, 409, 409, 409, 409, 409, 409, 409]);
      expect(await count(`SELECT count(*) AS n FROM subjects WHERE family_name = $1`, [`Parallel${i}`])).toBe(1);
    }
  });
});

describe('search with the same tolerances', () => {
  let ada: string;
  beforeAll(async () => {
    ada = (await createSubject(t.deps.db, clinician, { givenName: 'Ada', familyName: 'Byron', birthDate: '1985-12-10', sex: 'female' })).id;
    await createSubject(t.deps.db, clinician, { givenName: 'Adam', familyName: 'Byron', birthDate: '1985-12-10', sex: 'male' });
    for (let i = 0; i < 22; i++)
      await createSubject(t.deps.db, clinician, { givenName: `Grace${String.fromCharCode(97 + i)}`, familyName: 'Manyfold', birthDate: '1999-09-09' });
  });

  it('finds "Ada" alone, "Byro", and the date with day and month swapped; best first, each with its grade', async () => {
    for (const q of [
      { name: 'Ada', dob: '1985-12-10' },
      { name: 'Byro', dob: '1985-12-10' },
      { name: 'Ada Byron', dob: '1985-10-12' },
      { name: 'Byron, Ada', dob: '1985-12-10' },
    ]) {
      const res = await search(clerk, q);
      expect(res.status, res.text).toBe(200);
      const found = res.body.subjects as Candidate[];
      expect(
        found.map((f) => f.id),
        JSON.stringify(q),
      ).toContain(ada);
      expect(found.every((f) => ['certain', 'probable', 'possible'].includes(f.grade))).toBe(true);
      expect(found.map((f) => f.score)).toEqual([...found.map((f) => f.score)].sort((x, y) => y - x));
    }
    const exact = await search(clerk, { name: 'Ada Byron', dob: '1985-12-10' });
    expect(exact.body.subjects[0]).toMatchObject({ id: ada, grade: 'certain' });
    expect(exact.body.subjects[0]).toHaveProperty('riskFlagCount', 0);
  });

  it('the POST search takes the same terms in the body and answers the same; the name still needs a date of birth', async () => {
    const got = await request(t.app).post('/v1/subjects/search').set(bearer(clerk)).send({ name: 'Ada Byron', dob: '1985-12-10' });
    expect(got.status, got.text).toBe(200);
    expect(got.body.subjects[0].id).toBe(ada);
    expect((await request(t.app).post('/v1/subjects/search').set(bearer(clerk)).send({ name: 'Ada' })).status).toBe(400);
    expect((await search(clerk, { name: 'Ada' })).status).toBe(400);
  });

  it('cuts at 20 with truncated: true, and logs exactly the 20 shown', async () => {
    const res = await search(clerk, { name: 'Manyfold', dob: '1999-09-09' });
    expect(res.body.truncated).toBe(true);
    expect(res.body.subjects).toHaveLength(20);
    const [entry] = await logOf(res);
    expect((entry!.detail as { matches: string[] }).matches).toEqual(res.body.subjects.map((s: { id: string }) => s.id));
  });
});

describe('identifiers', () => {
  let person: string;
  beforeAll(async () => {
    person = (await createSubject(t.deps.db, clinician, { givenName: 'Mary', familyName: 'Kenneth', birthDate: '1977-03-21', sex: 'female' })).id;
  });
  const add = (by: TestUser, id: string, body: Record<string, string>) => request(t.app).post(`/v1/subjects/${id}/identifiers`).set(bearer(by)).send(body);

  it('police records staff add their agency’s identifier; a CAD finds the person by it (GET and POST), logged like a search; the record shows it', async () => {
    const res = await add(clerk, person, { system: clerk.agency, value: 'P-20931' });
    expect(res.status, res.text).toBe(201);
    expect(res.body).toMatchObject({ subjectId: person, system: clerk.agency, value: 'P-20931' });
    expect((await add(clerk, person, { system: clerk.agency, value: 'p 20931' })).status).toBe(200);

    const found = await search(officer, { identifier: `${clerk.agency}|P-20931` });
    expect(found.status, found.text).toBe(200);
    expect(found.body.subjects).toHaveLength(1);
    expect(found.body.subjects[0]).toMatchObject({ id: person, grade: 'certain', identifiers: [{ system: clerk.agency, value: 'P-20931' }] });
    const [entry] = await logOf(found);
    expect(entry).toMatchObject({ action: 'subject.search', decision: 'allow' });
    expect((entry!.detail as { matches: string[] }).matches).toEqual([person]);
    expect(JSON.stringify(entry)).not.toContain('20931');
    const body = await request(t.app)
      .post('/v1/subjects/search')
      .set(bearer(hospital))
      .send({ identifier: { system: clerk.agency, value: 'P-20931' } });
    expect(body.body.subjects.map((s: { id: string }) => s.id)).toEqual([person]);
    const record = await request(t.app).get(`/v1/subjects/${person}`).set(bearer(hospital));
    expect(record.body.subject.identifiers).toEqual([{ system: clerk.agency, value: 'P-20931' }]);
  });

  it('another agency cannot add an identifier in the police system; a role without the permission cannot add one at all; another person’s identifier is 409', async () => {
    const other = await add(hospital, person, { system: clerk.agency, value: 'P-77777' });
    expect(other.status).toBe(403);
    expect((await add(officer, person, { system: officer.agency, value: 'P-77777' })).status).toBe(403);
    expect(await count(`SELECT count(*) AS n FROM subject_identifiers WHERE value = 'P-77777'`)).toBe(0);
    const someoneElse = (await createSubject(t.deps.db, clinician, { birthDate: '1960-01-01' })).id;
    const taken = await add(clerk, someoneElse, { system: clerk.agency, value: 'P-20931' });
    expect(taken.status).toBe(409);
    expect(taken.text).not.toContain(person);
  });

  it('an identifier from a 42 CFR Part 2 program is shown only inside it, and cannot be searched by anyone else', async () => {
    expect((await add(partTwo, person, { system: partTwo.agency, value: 'SU-4411' })).status).toBe(201);
    const inside = await request(t.app).get(`/v1/subjects/${person}`).set(bearer(partTwo));
    expect(inside.body.subject.identifiers).toContainEqual({ system: partTwo.agency, value: 'SU-4411' });
    for (const outsider of [clerk, hospital, clinician]) {
      const record = await request(t.app).get(`/v1/subjects/${person}`).set(bearer(outsider));
      expect(record.status).toBe(200);
      expect(record.text).not.toContain('SU-4411');
      expect(record.text).not.toContain(partTwo.agency);
      const byIt = await search(outsider, { identifier: `${partTwo.agency}|SU-4411` });
      expect(byIt.body.subjects).toEqual([]);
      const byName = await search(outsider, { name: 'Mary Kenneth', dob: '1977-03-21' });
      expect(byName.text).not.toContain('SU-4411');
      expect(byName.text).not.toContain(partTwo.agency);
    }
    expect((await search(partTwo, { identifier: `${partTwo.agency}|SU-4411` })).body.subjects.map((s: { id: string }) => s.id)).toEqual([person]);
  });

  it('an identifier given at creation is the strongest evidence: a person under a new family name is refused as certain by it, and created without it', async () => {
    const identifiers = [{ system: clinician.agency, value: 'MH-1' }];
    const first = await create(clinician, { givenName: 'Hedy', familyName: 'Kiesler', birthDate: '1944-11-09', sex: 'female', identifiers });
    expect(first.status, first.text).toBe(201);
    const married = { givenName: 'Hedy', familyName: 'Markey', birthDate: '1944-11-09', sex: 'female' };
    const again = await create(clinician, { ...married, identifiers });
    expect(again.status, again.text).toBe(409);
    const candidate = (again.body.candidates as Candidate[]).find((c) => c.id === first.body.id);
    expect(candidate).toMatchObject({ grade: 'certain', identifiers });
    expect(candidate!.reasons.join(' ')).toMatch(/identifier from .* agrees/);
    // Twin: the same names and date without the identifier are not enough to refuse.
    expect((await create(clinician, married)).status).toBe(201);
    // Identifiers in another agency's system are refused at creation too.
    expect(
      (
        await create(clinician, {
          givenName: 'Z',
          familyName: 'Q',
          birthDate: '1944-01-01',
          sex: 'female',
          identifiers: [{ system: clerk.agency, value: 'X' }],
        })
      ).status,
    ).toBe(403);
  });
});
