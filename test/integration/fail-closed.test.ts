import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openPostgres, type Database } from '../../src/db/client.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { APP_LOGIN_ROLE, openTestDatabase, type TestDatabase } from '../helpers/db.js';
import { bearer, createAgency, createCase, createConsent, createEntry, createSubject, createUser, TEST_PASSWORD, type TestUser } from '../helpers/factories.js';

// SPEC principle 3: if the access-log entry cannot be written, the request fails (503) and no
// person data leaves; writes roll back. Also: the database going away answers 503, not data.

let database: TestDatabase;
let t: TestApp;
let clinician: TestUser;
let clerk: TestUser;
let compliance: TestUser;
let subject: Awaited<ReturnType<typeof createSubject>>;
const markers: string[] = [];
const GIVEN = `Quillon${randomUUID().slice(0, 6)}`;
const FAMILY = `Vexmoor${randomUUID().slice(0, 6)}`;
const DOB = '1973-06-17';

beforeAll(async () => {
  database = await openTestDatabase();
  t = await createTestApp(database.app);
  const mh = await createAgency(t.deps.db, 'mental_health');
  const police = await createAgency(t.deps.db, 'police');
  const gw = await createAgency(t.deps.db, 'gateway');
  clinician = await createUser(t.deps, mh, 'clinician');
  clerk = await createUser(t.deps, police, 'records_staff');
  compliance = await createUser(t.deps, gw, 'compliance_officer');
  subject = await createSubject(t.deps.db, clinician, { givenName: GIVEN, familyName: FAMILY, birthDate: DOB });
  await createCase(t.deps.db, subject.id, clinician, [clinician]);
  await createConsent(t.deps.db, subject.id, clinician, { kinds: ['police'] });
  for (const [tier, cats] of [
    ['intermediate', []],
    ['full', []],
    ['intermediate', ['substance-use']],
    ['full', ['psychotherapy-notes']],
  ] as const) {
    markers.push((await createEntry(t.deps.db, subject.id, clinician, tier, [...cats])).marker);
  }
});
afterAll(() => database?.close());

async function count(table: string, where = 'true', params: unknown[] = []): Promise<number> {
  const { rows } = await database.admin(`SELECT count(*)::int AS n FROM ${table} WHERE ${where}`, params);
  return Number(rows[0]!.n);
}

// Every table's row count, but the sealer's (derived from the log, drained in the background).
async function snapshot() {
  const { rows } = await database.admin(
    `SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'
       AND table_name NOT IN ('audit_seal_queue', 'audit_seals', 'audit_checkpoints') ORDER BY 1`,
  );
  const out: Record<string, number> = {};
  for (const { t: table } of rows) out[table as string] = await count(`"${table as string}"`);
  expect(Object.keys(out)).toEqual(
    expect.arrayContaining(['access_log', 'subjects', 'risk_flags', 'clinical_entries', 'consents', 'cases', 'break_glass_grants']),
  );
  return out;
}

/** The whole response (status line aside) carries no person data of the subject. */
function expectNoPersonData(res: request.Response) {
  const everything = JSON.stringify(res.headers) + (res.text ?? '') + JSON.stringify(res.body ?? null);
  for (const m of markers) expect(everything).not.toContain(m);
  expect(everything).not.toContain(GIVEN);
  expect(everything).not.toContain(FAMILY);
  expect(everything).not.toContain(DOB);
  expect(everything).not.toContain('MARK-');
}

function expect503(res: request.Response) {
  expect(res.status, res.text).toBe(503);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({ status: 503, title: 'Service Unavailable' });
  expect(typeof res.body.type).toBe('string');
  expectNoPersonData(res);
}

describe('fail closed: the access log cannot be written', () => {
  let faulted = false;
  async function breakLog() {
    await database.admin('CREATE TRIGGER fault_block_log BEFORE INSERT ON access_log FOR EACH ROW EXECUTE FUNCTION tiergate_reject_change()');
    faulted = true;
  }
  afterEach(async () => {
    if (faulted) await database.admin('DROP TRIGGER IF EXISTS fault_block_log ON access_log');
    faulted = false;
  });

  it('readyz reports 503 while the log refuses entries, and 200 again once it takes them', async () => {
    await breakLog();
    const down = await request(t.app).get('/readyz');
    expect(down.status).toBe(503);
    expect(down.body).toMatchObject({ status: 'unavailable', logWritable: false });
    await database.admin('DROP TRIGGER IF EXISTS fault_block_log ON access_log');
    faulted = false;
    expect((await request(t.app).get('/readyz')).status).toBe(200);
  });

  it('control: without the fault the same requests disclose data and are logged', async () => {
    const before = await count('access_log');
    const read = await request(t.app).get(`/v1/subjects/${subject.id}`).set(bearer(clinician));
    expect(read.status, read.text).toBe(200);
    expect(read.text).toContain(FAMILY);
    for (const m of markers) expect(read.text).toContain(m);
    const search = await request(t.app).get(`/v1/subjects?name=${FAMILY}&dob=${DOB}`).set(bearer(clerk));
    expect(search.status).toBe(200);
    expect(search.body.subjects.map((s: { id: string }) => s.id)).toEqual([subject.id]);
    expect(await count('access_log')).toBe(before + 2);
  });

  it('a read answers 503 with no person data and leaves no trace', async () => {
    await breakLog();
    const before = await snapshot();
    const res = await request(t.app).get(`/v1/subjects/${subject.id}`).set(bearer(clinician));
    expect503(res);
    expect(await snapshot()).toEqual(before);
  });

  it('a consent-based read by a partner answers 503 with no person data', async () => {
    await breakLog();
    const before = await snapshot();
    const res = await request(t.app).get(`/v1/subjects/${subject.id}`).set(bearer(clerk));
    expect503(res);
    expect(await snapshot()).toEqual(before);
  });

  it('a search answers 503 with no person data', async () => {
    await breakLog();
    const before = await snapshot();
    const res = await request(t.app).get(`/v1/subjects?name=${FAMILY}&dob=${DOB}`).set(bearer(clerk));
    expect503(res);
    expect(res.text).not.toContain(subject.id);
    expect(await snapshot()).toEqual(before);
  });

  it('a risk-flag read answers 503', async () => {
    await breakLog();
    const res = await request(t.app).get(`/v1/subjects/${subject.id}/risk-flags`).set(bearer(clerk));
    expect503(res);
  });

  it('a risk-flag write answers 503 and is rolled back', async () => {
    await breakLog();
    const before = await snapshot();
    const res = await request(t.app)
      .post(`/v1/subjects/${subject.id}/risk-flags`)
      .set(bearer(clinician))
      .send({ code: 'weapon-access', severity: 'high', note: 'FAULT-NOTE-risk' });
    expect503(res);
    expect(res.text).not.toContain('FAULT-NOTE-risk');
    expect(await snapshot()).toEqual(before);
    expect(await count('risk_flags', `note = 'FAULT-NOTE-risk'`)).toBe(0);
  });

  it('other writes (subject, entry, consent, revoke, case, break-glass) roll back too', async () => {
    const consent = await createConsent(t.deps.db, subject.id, clinician, { kinds: ['hospital'] });
    await breakLog();
    const before = await snapshot();
    const writes = [
      request(t.app).post('/v1/subjects').set(bearer(clinician)).send({ givenName: 'Fault', familyName: 'Writer', birthDate: '1990-01-01', sex: 'female' }),
      request(t.app)
        .post(`/v1/subjects/${subject.id}/entries`)
        .set(bearer(clinician))
        .send({ kind: 'note', tier: 'full', summary: 'MARK-fault-entry', content: { t: 'x' } }),
      request(t.app)
        .post(`/v1/subjects/${subject.id}/consents`)
        .set(bearer(clinician))
        .send({ recipients: [{ agencyKind: 'hospital' }], tiers: ['intermediate'], purpose: 'care-coordination', evidence: { form: 'written' } }),
      request(t.app).post(`/v1/consents/${consent.id}/revoke`).set(bearer(clinician)).send({ reason: 'fault test' }),
      request(t.app).post('/v1/cases').set(bearer(clinician)).send({ subjectId: subject.id, title: 'fault case' }),
      request(t.app).post(`/v1/subjects/${subject.id}/break-glass`).set(bearer(clinician)).send({ reason: 'emergency on scene now' }),
    ];
    for (const w of writes) expect503(await w);
    expect(await snapshot()).toEqual(before);
    expect(await count('consents', 'id = $1 AND revoked_at IS NULL', [consent.id])).toBe(1);
  });

  it('a policy denial answers 503, not 403, since the denial could not be logged', async () => {
    // Control first: without the fault the compliance officer is refused with a logged 403.
    const before0 = await count('access_log');
    const ok = await request(t.app).get(`/v1/subjects/${subject.id}`).set(bearer(compliance));
    expect(ok.status).toBe(403);
    expect(await count('access_log')).toBe(before0 + 1);

    await breakLog();
    const before = await snapshot();
    const res = await request(t.app).get(`/v1/subjects/${subject.id}`).set(bearer(compliance));
    expect503(res);
    expect(await snapshot()).toEqual(before);
  });

  it('a not-found (a logged denial) answers 503, not 404', async () => {
    await breakLog();
    const res = await request(t.app).get(`/v1/subjects/${randomUUID()}`).set(bearer(clinician));
    expect503(res);
  });

  it('an authentication failure answers 503, not 401', async () => {
    await breakLog();
    const before = await snapshot();
    for (const headers of [{ Authorization: 'Bearer not.a.token' }, { Authorization: `Bearer ${clinician.token.slice(0, -4)}AAAA` }, {}]) {
      const res = await request(t.app).get(`/v1/subjects/${subject.id}`).set(headers);
      expect503(res);
      expect(res.headers['www-authenticate']).toBeUndefined();
    }
    expect(await snapshot()).toEqual(before);
  });

  it('a token request answers 503 temporarily_unavailable and issues no token', async () => {
    await breakLog();
    const res = await request(t.app).post('/oauth/token').type('form').send({ grant_type: 'password', username: clinician.username, password: TEST_PASSWORD });
    expect(res.status, res.text).toBe(503);
    expect(res.body).toEqual({ error: 'temporarily_unavailable' });
    expect(res.text).not.toContain('access_token');
  });

  it('a revocation that cannot be logged is not made: 503, and the token still works afterwards', async () => {
    await breakLog();
    const res = await request(t.app).post('/oauth/revoke').type('form').send({ token: clerk.token });
    expect(res.status).toBe(503);
    expect(res.body).toEqual({ error: 'temporarily_unavailable' });
    expect((await database.admin('select count(*)::int as n from revoked_tokens')).rows[0]!.n).toBe(0);
    await database.admin('DROP TRIGGER IF EXISTS fault_block_log ON access_log');
    faulted = false;
    expect((await request(t.app).get(`/v1/subjects?name=${FAMILY}&dob=${DOB}`).set(bearer(clerk))).status).toBe(200);
  });

  it('the log works again once the fault is gone', async () => {
    const res = await request(t.app).get(`/v1/subjects/${subject.id}`).set(bearer(clinician));
    expect(res.status).toBe(200);
  });
});

describe('fail closed: the database goes away', () => {
  it('readyz is 200 while the database is up', async () => {
    const res = await request(t.app).get('/readyz');
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('ready');
  });

  it('a second app on a closed connection answers 503 problem+json with no data; readyz 503', async () => {
    // A connection of our own that we close: on PostgreSQL a second pool of the app role to the
    // same database; on PGlite a second database (PGlite has no second connection).
    let second: Database;
    let extra: TestDatabase | undefined;
    let secondT: TestApp;
    let users: { clinician: TestUser; compliance: TestUser; subjectId: string };
    if (database.driver === 'pg') {
      second = openPostgres(await appUrl(), { max: 2 });
      secondT = await createTestApp(second);
      users = { clinician, compliance, subjectId: subject.id };
    } else {
      extra = await openTestDatabase();
      second = extra.app;
      secondT = await createTestApp(second);
      const mh = await createAgency(secondT.deps.db, 'mental_health');
      const gw = await createAgency(secondT.deps.db, 'gateway');
      const c = await createUser(secondT.deps, mh, 'clinician');
      const s = await createSubject(secondT.deps.db, c, { givenName: GIVEN, familyName: FAMILY, birthDate: DOB });
      markers.push((await createEntry(secondT.deps.db, s.id, c, 'intermediate')).marker);
      users = { clinician: c, compliance: await createUser(secondT.deps, gw, 'compliance_officer'), subjectId: s.id };
      const alive = await request(secondT.app).get(`/v1/subjects/${s.id}`).set(bearer(c));
      expect(alive.status).toBe(200);
    }
    try {
      const before = await count('access_log');
      await second.close();
      const responses = [
        await request(secondT.app).get(`/v1/subjects/${users.subjectId}`).set(bearer(users.clinician)),
        await request(secondT.app).get(`/v1/subjects?name=${FAMILY}&dob=${DOB}`).set(bearer(users.clinician)),
        await request(secondT.app)
          .post(`/v1/subjects/${users.subjectId}/risk-flags`)
          .set(bearer(users.clinician))
          .send({ code: 'weapon-access', severity: 'high' }),
        await request(secondT.app).get(`/v1/subjects/${users.subjectId}`).set(bearer(users.compliance)),
        await request(secondT.app).get(`/v1/subjects/${users.subjectId}`).set({ Authorization: 'Bearer a.b.c' }),
      ];
      for (const res of responses) expect503(res);
      const ready = await request(secondT.app).get('/readyz');
      expect(ready.status).toBe(503);
      expect(ready.body.status).not.toBe('ready');
      const tok = await request(secondT.app)
        .post('/oauth/token')
        .type('form')
        .send({ grant_type: 'password', username: users.clinician.username, password: TEST_PASSWORD });
      expect(tok.status).toBeGreaterThanOrEqual(500);
      expect(tok.text).not.toContain('access_token');
      if (database.driver === 'pg') expect(await count('access_log')).toBe(before);
    } finally {
      await extra?.close().catch(() => undefined);
    }
  });

  it('PostgreSQL: the connection killed mid-transaction answers 503 with no data, nothing committed', async () => {
    if (database.driver !== 'pg') return; // PGlite is single-connection and in-process: nothing to kill mid-query.
    const appName = `tg_midreq_${randomUUID().slice(0, 8)}`;
    const url = new URL(await appUrl());
    url.searchParams.set('application_name', appName);
    const second = openPostgres(url.toString(), { max: 2 });
    const secondT = await createTestApp(second);
    // The log insert stalls, so the request is inside its transaction (data read, entry pending).
    await database.admin(`CREATE OR REPLACE FUNCTION fault_slow_log() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(15); RETURN NEW; END $$`);
    await database.admin('CREATE TRIGGER fault_slow_log BEFORE INSERT ON access_log FOR EACH ROW EXECUTE FUNCTION fault_slow_log()');
    try {
      const before = await snapshot();
      const read = request(secondT.app)
        .get(`/v1/subjects/${subject.id}`)
        .set(bearer(clinician))
        .then((r) => r);
      const write = request(secondT.app)
        .post(`/v1/subjects/${subject.id}/risk-flags`)
        .set(bearer(clinician))
        .send({ code: 'weapon-access', severity: 'high', note: 'FAULT-NOTE-midreq' })
        .then((r) => r);
      // Wait until both requests sit in the stalled insert, then kill their backends.
      let stalled = 0;
      for (let i = 0; i < 250 && stalled < 2; i++) {
        const { rows } = await database.admin(
          // Asleep in the trigger: the query text may be cut short (track_activity_query_size).
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND wait_event = 'PgSleep'`,
          [appName],
        );
        stalled = Number(rows[0]!.n);
        if (stalled < 2) await new Promise((r) => setTimeout(r, 20));
      }
      expect(stalled, 'both requests inside their transaction, at the log insert').toBe(2);
      const { rows: killed } = await database.admin(
        `SELECT count(*)::int AS n FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1) k`,
        [appName],
      );
      expect(Number(killed[0]!.n)).toBeGreaterThanOrEqual(2);
      for (const res of [await read, await write]) expect503(res);
      await database.admin('DROP TRIGGER fault_slow_log ON access_log');
      expect(await snapshot()).toEqual(before);
      expect(await count('risk_flags', `note = 'FAULT-NOTE-midreq'`)).toBe(0);
    } finally {
      await database.admin('DROP TRIGGER IF EXISTS fault_slow_log ON access_log');
      await second.close().catch(() => undefined);
    }
  });
});

/** The app role's URL for this test database (PostgreSQL only). */
async function appUrl(): Promise<string> {
  const { rows } = await database.admin('SELECT current_database() AS name');
  const url = new URL(process.env.TEST_DATABASE_URL!);
  url.pathname = `/${rows[0]!.name as string}`;
  url.username = APP_LOGIN_ROLE;
  url.password = '';
  return url.toString();
}
