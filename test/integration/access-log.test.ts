import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { APP_LOGIN_ROLE, openTestDatabase, type TestDatabase } from '../helpers/db.js';
import { bearer, createAgency, createCase, createConsent, createEntry, createSubject, createUser, type TestUser } from '../helpers/factories.js';

// SPEC principles 3 and 4: one entry per read, search, write and denial, with no clinical
// content; the log is append-only for the gateway's own connection (trigger and privileges).

let database: TestDatabase;
let t: TestApp;
let clinician: TestUser;
let clerk: TestUser;
let dispatcher: TestUser;
let compliance: TestUser;
let subject: Awaited<ReturnType<typeof createSubject>>;
const markers: string[] = [];
const GIVEN = `Perpetua${randomUUID().slice(0, 6)}`;
const FAMILY = `Ashgrove${randomUUID().slice(0, 6)}`;
const DOB = '1969-11-23';

beforeAll(async () => {
  database = await openTestDatabase();
  t = await createTestApp(database.app);
  const mh = await createAgency(t.deps.db, 'mental_health');
  const police = await createAgency(t.deps.db, 'police');
  const gw = await createAgency(t.deps.db, 'gateway');
  clinician = await createUser(t.deps, mh, 'clinician');
  clerk = await createUser(t.deps, police, 'records_staff');
  dispatcher = await createUser(t.deps, police, 'dispatcher');
  compliance = await createUser(t.deps, gw, 'compliance_officer');
  subject = await createSubject(t.deps.db, clinician, { givenName: GIVEN, familyName: FAMILY, birthDate: DOB });
  await createCase(t.deps.db, subject.id, clinician, [clinician]);
  await createConsent(t.deps.db, subject.id, clinician, { kinds: ['police'], categories: ['substance-use'] });
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

async function logCount(where = 'true', params: unknown[] = []): Promise<number> {
  const { rows } = await database.admin(`SELECT count(*)::int AS n FROM access_log WHERE ${where}`, params);
  return Number(rows[0]!.n);
}

/** The message of a failed statement, drizzle's wrapper unwrapped. */
async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    const e = err as { message?: string; cause?: { message?: string } };
    return `${e.message ?? ''} ${e.cause?.message ?? ''}`;
  }
  throw new Error('the statement succeeded');
}

describe('the access log is append-only', () => {
  const tamper = [
    "UPDATE access_log SET reason = 'tampered'",
    'DELETE FROM access_log',
    'TRUNCATE access_log',
    "UPDATE access_log SET decision = 'allow' WHERE decision = 'deny'",
  ];

  beforeAll(async () => {
    // Rows of both decisions exist, so row-level triggers have something to fire on.
    expect((await request(t.app).get(`/v1/subjects/${subject.id}`).set(bearer(clinician))).status).toBe(200);
    expect((await request(t.app).get(`/v1/subjects/${subject.id}`).set(bearer(compliance))).status).toBe(403);
  });

  it.each(tamper)('the gateway connection cannot run: %s', async (statement) => {
    const before = await database.admin("SELECT md5(string_agg(row_to_json(a)::text, '|' ORDER BY seq)) AS h, count(*)::int AS n FROM access_log a");
    const message = await failure(t.deps.db.execute(sql.raw(statement)));
    expect(message).toMatch(database.driver === 'pg' ? /permission denied/ : /append-only/);
    const after = await database.admin("SELECT md5(string_agg(row_to_json(a)::text, '|' ORDER BY seq)) AS h, count(*)::int AS n FROM access_log a");
    expect(after.rows[0]).toEqual(before.rows[0]);
    expect(Number(after.rows[0]!.n)).toBeGreaterThan(0);
  });

  it.each(tamper)('even the superuser and owner is stopped by the trigger: %s', async (statement) => {
    const n = await logCount();
    expect(await failure(database.admin(statement))).toMatch(/append-only/);
    expect(await logCount()).toBe(n);
    expect(await logCount(`reason = 'tampered'`)).toBe(0);
  });

  it('inside a transaction of the gateway too (a savepoint cannot sneak an edit through)', async () => {
    const n = await logCount();
    const message = await failure(
      t.deps.db.transaction(async (tx) => {
        await tx.execute(sql`DELETE FROM access_log WHERE seq = (SELECT max(seq) FROM access_log)`);
      }),
    );
    expect(message).toMatch(/permission denied|append-only/);
    expect(await logCount()).toBe(n);
  });

  it('consents cannot be deleted, by the gateway or the owner', async () => {
    const consent = await createConsent(t.deps.db, subject.id, clinician, { kinds: ['hospital'] });
    const count = async () => Number((await database.admin('SELECT count(*)::int AS n FROM consents WHERE id = $1', [consent.id])).rows[0]!.n);
    expect(await failure(t.deps.db.execute(sql`DELETE FROM consents WHERE id = ${consent.id}`))).toMatch(/permission denied|append-only/);
    expect(await failure(t.deps.db.execute(sql`DELETE FROM consents`))).toMatch(/permission denied|append-only/);
    expect(await failure(database.admin('DELETE FROM consents WHERE id = $1', [consent.id]))).toMatch(/append-only/);
    expect(await count()).toBe(1);
    if (database.driver === 'pg') expect(await failure(t.deps.db.execute(sql.raw('TRUNCATE consents CASCADE')))).toMatch(/permission denied/);
  });

  it('consents, cases, teams and break-glass grants keep their history: only revoke, close and remove are allowed', async () => {
    const consent = await createConsent(t.deps.db, subject.id, clinician, { kinds: ['hospital'] });
    const kase = await createCase(t.deps.db, subject.id, clinician, [clinician]);
    const grant = await request(t.app)
      .post(`/v1/subjects/${subject.id}/break-glass`)
      .set(bearer(clinician))
      .send({ reason: 'Patient unresponsive, need the crisis plan now' });
    expect(grant.status, grant.text).toBe(201);
    const refused = /append-only|may only|permission denied/;
    // Through the gateway's connection and as the superuser alike.
    for (const run of [(q: string) => t.deps.db.execute(sql.raw(q)), (q: string) => database.admin(q)]) {
      for (const q of [
        `UPDATE consents SET valid_until = now() + interval '10 years' WHERE id = '${consent.id}'`,
        `UPDATE consents SET tiers = '{intermediate,full}' WHERE id = '${consent.id}'`,
        `UPDATE cases SET subject_id = subject_id, title = 'renamed' WHERE id = '${kase.id}'`,
        `DELETE FROM cases WHERE id = '${kase.id}'`,
        `UPDATE case_members SET user_id = user_id, added_at = now() WHERE case_id = '${kase.id}'`,
        `DELETE FROM case_members WHERE case_id = '${kase.id}'`,
        `UPDATE break_glass_grants SET reason = 'edited' WHERE id = '${grant.body.id}'`,
        `UPDATE break_glass_grants SET expires_at = now() + interval '1 year' WHERE id = '${grant.body.id}'`,
        `DELETE FROM break_glass_grants WHERE id = '${grant.body.id}'`,
      ]) {
        expect(await failure(run(q)), q).toMatch(refused);
      }
    }
    // The allowed transitions, once each: revoke, remove, close; a second time, or undoing them, fails.
    await database.admin(`UPDATE consents SET revoked_at = now(), revoked_by = '${clinician.userId}' WHERE id = '${consent.id}'`);
    expect(await failure(database.admin(`UPDATE consents SET revoked_at = NULL, revoked_by = NULL WHERE id = '${consent.id}'`))).toMatch(/may only be revoked/);
    expect(await failure(database.admin(`UPDATE consents SET revoked_at = now() WHERE id = '${consent.id}'`))).toMatch(/may only be revoked/);
    await database.admin(`UPDATE case_members SET removed_at = now(), removed_by = '${clinician.userId}' WHERE case_id = '${kase.id}'`);
    expect(await failure(database.admin(`UPDATE case_members SET removed_at = NULL WHERE case_id = '${kase.id}'`))).toMatch(/may only be removed/);
    await database.admin(`UPDATE cases SET status = 'closed', closed_at = now(), closed_by = '${clinician.userId}' WHERE id = '${kase.id}'`);
    expect(await failure(database.admin(`UPDATE cases SET status = 'open', closed_at = NULL WHERE id = '${kase.id}'`))).toMatch(/may only be closed/);
    for (const table of ['consents', 'cases', 'case_members', 'break_glass_grants']) {
      expect(await failure(database.admin(`TRUNCATE ${table} CASCADE`)), table).toMatch(/append-only/);
    }
  });

  it('PostgreSQL: the app role holds no UPDATE, DELETE or TRUNCATE on the log, and cannot switch the triggers off', async () => {
    if (database.driver !== 'pg') return; // PGlite has one superuser connection: the trigger is the guard there.
    const priv = async (table: string, p: string) =>
      (await database.admin(`SELECT has_table_privilege($1, $2, $3) AS ok`, [APP_LOGIN_ROLE, table, p])).rows[0]!.ok;
    for (const p of ['UPDATE', 'DELETE', 'TRUNCATE']) expect(await priv('access_log', p), `access_log ${p}`).toBe(false);
    for (const p of ['INSERT', 'SELECT']) expect(await priv('access_log', p), `access_log ${p}`).toBe(true);
    for (const table of ['consents', 'cases', 'case_members', 'break_glass_grants']) {
      for (const p of ['DELETE', 'TRUNCATE']) expect(await priv(table, p), `${table} ${p}`).toBe(false);
    }
    expect(await priv('break_glass_grants', 'UPDATE')).toBe(false);

    const { rows } = await database.admin(
      `SELECT r.rolsuper, r.rolbypassrls, pg_has_role($1, t.tableowner, 'MEMBER') AS owns
         FROM pg_roles r, pg_tables t WHERE r.rolname = $1 AND t.tablename = 'access_log'`,
      [APP_LOGIN_ROLE],
    );
    expect(rows[0]).toEqual({ rolsuper: false, rolbypassrls: false, owns: false });
    // What an owner or superuser could do to bypass the trigger is refused to the gateway.
    for (const statement of [
      'ALTER TABLE access_log DISABLE TRIGGER access_log_no_update_delete',
      'DROP TRIGGER access_log_no_update_delete ON access_log',
      'SET session_replication_role = replica',
      'CREATE OR REPLACE FUNCTION tiergate_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$',
    ]) {
      const message = await failure(t.deps.db.execute(sql.raw(statement))).catch((e: Error) => `${statement}: ${e.message}`);
      expect(message, statement).toMatch(/permission denied|must be owner|must be superuser|not allowed/);
    }
    // A GRANT by a non-owner is a no-op (PostgreSQL only warns): the privilege stays absent.
    await t.deps.db.execute(sql.raw(`GRANT UPDATE, DELETE, TRUNCATE ON access_log TO ${APP_LOGIN_ROLE}`)).catch(() => undefined);
    for (const p of ['UPDATE', 'DELETE', 'TRUNCATE']) expect(await priv('access_log', p), `access_log ${p} after GRANT`).toBe(false);
    expect(await failure(t.deps.db.execute(sql`DELETE FROM access_log`))).toMatch(/permission denied/);
  });
});

describe('one entry per read, search, write and denial', () => {
  type Step = { name: string; send: (rid: string) => request.Test; status: number; entries: number; action?: string; decision?: string };
  const steps: Step[] = [
    {
      name: 'search',
      send: (rid) => request(t.app).get(`/v1/subjects?name=${FAMILY}&dob=${DOB}`).set(bearer(clerk)).set('X-Request-Id', rid),
      status: 200,
      entries: 1,
      action: 'subject.search',
      decision: 'allow',
    },
    {
      name: 'read (consent)',
      send: (rid) => request(t.app).get(`/v1/subjects/${subject.id}`).set(bearer(clerk)).set('X-Request-Id', rid),
      status: 200,
      entries: 1,
      action: 'subject.read',
      decision: 'allow',
    },
    {
      name: 'read (case)',
      send: (rid) => request(t.app).get(`/v1/subjects/${subject.id}`).set(bearer(clinician)).set('X-Request-Id', rid),
      status: 200,
      entries: 1,
      action: 'subject.read',
      decision: 'allow',
    },
    {
      name: 'risk flags read',
      send: (rid) => request(t.app).get(`/v1/subjects/${subject.id}/risk-flags`).set(bearer(dispatcher)).set('X-Request-Id', rid),
      status: 200,
      entries: 1,
      action: 'risk-flag.read',
      decision: 'allow',
    },
    {
      name: 'risk flag write',
      send: (rid) =>
        request(t.app)
          .post(`/v1/subjects/${subject.id}/risk-flags`)
          .set(bearer(clinician))
          .set('X-Request-Id', rid)
          .send({ code: 'weapon-access', severity: 'high' }),
      status: 201,
      entries: 1,
      action: 'risk-flag.create',
      decision: 'allow',
    },
    {
      name: 'entry write',
      send: (rid) =>
        request(t.app)
          .post(`/v1/subjects/${subject.id}/entries`)
          .set(bearer(clinician))
          .set('X-Request-Id', rid)
          .send({ kind: 'note', tier: 'full', summary: 'seq entry' }),
      status: 201,
      entries: 1,
      action: 'entry.create',
      decision: 'allow',
    },
    {
      name: 'denial by role (compliance reads)',
      send: (rid) => request(t.app).get(`/v1/subjects/${subject.id}`).set(bearer(compliance)).set('X-Request-Id', rid),
      status: 403,
      entries: 1,
      action: 'subject.read',
      decision: 'deny',
    },
    {
      name: 'denial by role (dispatcher writes)',
      send: (rid) =>
        request(t.app)
          .post(`/v1/subjects/${subject.id}/risk-flags`)
          .set(bearer(dispatcher))
          .set('X-Request-Id', rid)
          .send({ code: 'weapon-access', severity: 'high' }),
      status: 403,
      entries: 1,
      action: 'risk-flag.create',
      decision: 'deny',
    },
    {
      name: 'denial: unknown subject',
      send: (rid) => request(t.app).get(`/v1/subjects/${randomUUID()}`).set(bearer(clerk)).set('X-Request-Id', rid),
      status: 404,
      entries: 1,
      action: 'subject.read',
      decision: 'deny',
    },
    {
      name: 'denial: no token',
      send: (rid) => request(t.app).get(`/v1/subjects/${subject.id}`).set('X-Request-Id', rid),
      status: 401,
      entries: 1,
      action: 'authenticate',
      decision: 'deny',
    },
    {
      name: 'denial: bad token',
      send: (rid) => request(t.app).get(`/v1/subjects?name=${FAMILY}&dob=${DOB}`).set({ Authorization: 'Bearer x.y.z' }).set('X-Request-Id', rid),
      status: 401,
      entries: 1,
      action: 'authenticate',
      decision: 'deny',
    },
    {
      name: 'bad input (not a decision about access)',
      send: (rid) => request(t.app).get('/v1/subjects/not-a-uuid').set(bearer(clerk)).set('X-Request-Id', rid),
      status: 400,
      entries: 0,
    },
    { name: 'health check (no person data)', send: (rid) => request(t.app).get('/healthz').set('X-Request-Id', rid), status: 200, entries: 0 },
  ];

  it('each request of a sequence adds exactly its entries, under its request id', async () => {
    for (const step of steps) {
      const rid = `seq-${randomUUID()}`;
      const before = await logCount();
      const res = await step.send(rid);
      expect(res.status, `${step.name}: ${res.text}`).toBe(step.status);
      // The gateway's own id answers; the client's X-Request-Id is recorded beside it.
      expect(res.headers['x-request-id']).not.toBe(rid);
      expect(await logCount(), step.name).toBe(before + step.entries);
      const { rows } = await database.admin('SELECT action, decision FROM access_log WHERE request_id = $1 AND client_request_id = $2', [
        res.headers['x-request-id'],
        rid,
      ]);
      expect(rows, step.name).toHaveLength(step.entries);
      if (step.entries) expect(rows[0], step.name).toEqual({ action: step.action, decision: step.decision });
    }
  });

  it('concurrent reads each get their own entry', async () => {
    const before = await logCount();
    const rids = Array.from({ length: 8 }, () => `par-${randomUUID()}`);
    const results = await Promise.all(
      rids.map((rid, i) =>
        request(t.app)
          .get(`/v1/subjects/${subject.id}`)
          .set(bearer(i % 2 ? clerk : clinician))
          .set('X-Request-Id', rid),
      ),
    );
    for (const r of results) expect(r.status).toBe(200);
    expect(await logCount()).toBe(before + rids.length);
    const { rows } = await database.admin('SELECT client_request_id FROM access_log WHERE client_request_id = ANY($1) ORDER BY client_request_id', [rids]);
    expect(rows.map((r) => r.client_request_id)).toEqual([...rids].sort());
  });

  it('a token issue and a revocation are logged once each', async () => {
    // (The password grant itself is covered in tokens.test.ts; here only the counts.)
    const before = await logCount();
    const res = await request(t.app)
      .post('/oauth/revoke')
      .type('form')
      .send({ token: (await createUser(t.deps, { id: clerk.agencyId, slug: clerk.agency, kind: 'police' }, 'officer')).token });
    expect(res.status).toBe(200);
    expect(await logCount()).toBe(before + 1);
    expect(await logCount(`action = 'token.revoke' AND seq = (SELECT max(seq) FROM access_log)`)).toBe(1);
  });
});

describe('log entries carry no clinical content', () => {
  it('after reads, searches, writes and denials, the whole log names no marker, name, birth date or free text', async () => {
    const free = {
      note: `RISKNOTE-${randomUUID()}`,
      summary: `ENTRYSUM-${randomUUID()}`,
      content: `ENTRYCONTENT-${randomUUID()}`,
      bg: `BREAKGLASS-${randomUUID()} patient in acute crisis at the door`,
      revoke: `REVOKEREASON-${randomUUID()}`,
      witness: `WITNESS-${randomUUID()}`,
    };
    const consent = await createConsent(t.deps.db, subject.id, clinician, { kinds: ['hospital'] });
    const reqs = [
      request(t.app).get(`/v1/subjects/${subject.id}`).set(bearer(clinician)),
      request(t.app).get(`/v1/subjects/${subject.id}`).set(bearer(clerk)),
      request(t.app).get(`/v1/subjects?name=${FAMILY}&dob=${DOB}`).set(bearer(clerk)),
      request(t.app)
        .get(`/v1/subjects?name=${encodeURIComponent(`${GIVEN} ${FAMILY}`)}&dob=${DOB}`)
        .set(bearer(dispatcher)),
      request(t.app).get(`/v1/subjects?name=${FAMILY.toUpperCase()}&dob=${DOB}`).set(bearer(clinician)),
      request(t.app).get(`/v1/subjects?name=${FAMILY}&dob=${DOB}`).set(bearer(compliance)), // denied search
      request(t.app).get(`/v1/subjects?name=${FAMILY}&dob=${DOB}`).set({ Authorization: 'Bearer a.b.c' }), // 401 search
      request(t.app).get(`/v1/subjects?name=${FAMILY}&dob=1800-01-01`).set(bearer(clerk)), // 400 search
      request(t.app).post(`/v1/subjects/${subject.id}/risk-flags`).set(bearer(clinician)).send({ code: 'self-harm', severity: 'medium', note: free.note }),
      request(t.app)
        .post(`/v1/subjects/${subject.id}/entries`)
        .set(bearer(clinician))
        .send({ kind: 'diagnosis', tier: 'intermediate', summary: free.summary, content: { dx: free.content } }),
      // (A renewal: an earlier test left this clinician's grant for the person live.)
      request(t.app).post(`/v1/subjects/${subject.id}/break-glass`).set(bearer(clinician)).send({ reason: free.bg, renew: true }),
      request(t.app)
        .post(`/v1/subjects/${subject.id}/consents`)
        .set(bearer(clinician))
        .send({
          recipients: [{ agencyKind: 'hospital' }],
          tiers: ['intermediate'],
          purpose: 'care-coordination',
          evidence: { form: 'verbal', witness: free.witness },
        }),
      request(t.app).post(`/v1/consents/${consent.id}/revoke`).set(bearer(clinician)).send({ reason: free.revoke }),
      request(t.app)
        .post('/v1/subjects')
        .set(bearer(clinician))
        .send({ givenName: `${GIVEN}b`, familyName: `${FAMILY}b`, birthDate: '1970-01-02', sex: 'male' }),
    ];
    const statuses = [];
    for (const r of reqs) statuses.push((await r).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 403, 401, 400, 201, 201, 201, 201, 200, 201]);

    // The searches disclosed the subject, and the log says so by id only.
    const { rows: searches } = await database.admin(`SELECT detail FROM access_log WHERE action = 'subject.search' AND decision = 'allow'`);
    expect(searches.some((r) => JSON.stringify(r.detail).includes(subject.id))).toBe(true);

    const { rows } = await database.admin(`SELECT string_agg(row_to_json(a)::text, E'\\n') AS all FROM access_log a`);
    const all = String(rows[0]!.all);
    expect(all.length).toBeGreaterThan(1000);
    const lower = all.toLowerCase();
    for (const s of [...markers, ...Object.values(free), GIVEN, FAMILY, DOB, '1970-01-02', 'MARK-', 'summary', 'content ']) {
      expect(lower, s).not.toContain(s.toLowerCase());
    }
  });
});

describe('consent revocation takes effect on the next request', () => {
  it('a clerk with consent sees intermediate; after the revoke, the next read is basic', async () => {
    const s = await createSubject(t.deps.db, clinician);
    const consent = await createConsent(t.deps.db, s.id, clinician, { agencyIds: [clerk.agencyId] });
    const inter = await createEntry(t.deps.db, s.id, clinician, 'intermediate');
    const full = await createEntry(t.deps.db, s.id, clinician, 'full');

    const first = await request(t.app).get(`/v1/subjects/${s.id}`).set(bearer(clerk)).set('X-Request-Id', `rev1-${consent.id}`);
    expect(first.status).toBe(200);
    expect(first.body.access.tier).toBe('intermediate');
    expect(first.body.access.basis).toEqual(expect.arrayContaining([expect.objectContaining({ rule: 'consent', consentId: consent.id })]));
    expect(first.text).toContain(inter.marker);
    expect(first.text).not.toContain(full.marker);

    const revoke = await request(t.app).post(`/v1/consents/${consent.id}/revoke`).set(bearer(clinician)).send({ reason: 'withdrawn by the person' });
    expect(revoke.status, revoke.text).toBe(200);
    expect(revoke.body).toMatchObject({ id: consent.id, status: 'revoked' });

    const next = await request(t.app).get(`/v1/subjects/${s.id}`).set(bearer(clerk)).set('X-Request-Id', `rev2-${consent.id}`);
    expect(next.status).toBe(200);
    expect(next.body.access.tier).toBe('basic');
    expect(next.body.access.withheld).toEqual(['intermediate', 'full']);
    expect(next.body.subject.entries).toEqual([]);
    expect(next.text).not.toContain(inter.marker);
    expect(next.text).not.toContain(consent.id);

    const { rows } = await database.admin(`SELECT request_id, tier, basis FROM access_log WHERE client_request_id IN ($1, $2) ORDER BY seq`, [
      `rev1-${consent.id}`,
      `rev2-${consent.id}`,
    ]);
    expect(rows.map((r) => r.tier)).toEqual(['intermediate', 'basic']);
    expect(JSON.stringify(rows[0]!.basis)).toContain(consent.id);
    expect(JSON.stringify(rows[1]!.basis)).not.toContain(consent.id);

    // Revoking twice is refused and changes nothing.
    const again = await request(t.app).post(`/v1/consents/${consent.id}/revoke`).set(bearer(clinician)).send({ reason: 'again' });
    expect(again.status).toBe(409);
    const { rows: c } = await database.admin('SELECT revocation_reason FROM consents WHERE id = $1', [consent.id]);
    expect(c[0]!.revocation_reason).toBe('withdrawn by the person');
  });
});
