import pg from 'pg';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPostgres, type Database } from '../../src/db/client.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { APP_LOGIN_ROLE, openTestDatabase, type TestDatabase } from '../helpers/db.js';
import { bearer, createAgency, createSubject, createUser, type TestUser } from '../helpers/factories.js';

// AUDIT_DATABASE_URL: audit searches, accountings and their exports read a read-only streaming
// replica and say how fresh they are; each such request's log entry is committed on the primary
// first (fail closed); reviews and every write stay on the primary. .ci/run makes the replica
// (scripts/ci/replica.sh) and sets REPLICA_DATABASE_URL; on PGlite, or without it, only the
// primary-only case runs.

const REPLICA = process.env.REPLICA_DATABASE_URL;
const onReplica = process.env.TEST_DRIVER === 'pg' && Boolean(REPLICA);
if (process.env.TEST_DRIVER === 'pg' && !REPLICA) {
  console.error(
    'audit-replica.test.ts: REPLICA_DATABASE_URL is unset, so the streaming-replica tests are skipped (.ci/run sets it; see scripts/ci/replica.sh)',
  );
}

let database: TestDatabase;
let primaryOnly: TestApp;
let clerk: TestUser;
let clinician: TestUser;
let compliance: TestUser;
let subject: { id: string };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  database = await openTestDatabase();
  primaryOnly = await createTestApp(database.app);
  const db = primaryOnly.deps.db;
  const [mh, police, gw] = await Promise.all([createAgency(db, 'mental_health'), createAgency(db, 'police'), createAgency(db, 'gateway')]);
  [clinician, clerk, compliance] = await Promise.all([
    createUser(primaryOnly.deps, mh, 'clinician'),
    createUser(primaryOnly.deps, police, 'records_staff'),
    createUser(primaryOnly.deps, gw, 'compliance_officer'),
  ]);
  subject = await createSubject(db, clinician);
  expect((await request(primaryOnly.app).get(`/v1/subjects/${subject.id}`).set(bearer(clerk))).status).toBe(200);
});
afterAll(async () => {
  primaryOnly?.deps.metrics.close();
  await database?.close();
});

describe('without AUDIT_DATABASE_URL', () => {
  it('audit reads run on the primary, in the log entry’s transaction, and say so', async () => {
    const res = await request(primaryOnly.app).get('/v1/audit/events').query({ subject: subject.id }).set(bearer(compliance));
    expect(res.status, res.text).toBe(200);
    expect(res.headers['audit-source']).toBe('primary');
    expect(res.body.freshness).toMatchObject({ source: 'primary', caughtUp: true });
    const { rows } = await database.admin(`SELECT detail FROM access_log WHERE request_id = $1`, [res.headers['x-request-id']]);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.detail).toMatchObject({ returned: res.body.events.length });
    expect(rows[0]!.detail).not.toHaveProperty('readFrom');
  });
});

describe.runIf(onReplica)('with AUDIT_DATABASE_URL on a streaming replica', () => {
  let replica: Database;
  let replicaAdmin: pg.Client;
  let t: TestApp;

  /** Waits until the replica has replayed everything the primary has written so far. */
  async function caughtUp(): Promise<void> {
    const { rows } = await database.admin('SELECT pg_current_wal_lsn()::text AS lsn');
    for (let i = 0; i < 200; i++) {
      const r = await replicaAdmin.query('SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS done', [rows[0]!.lsn]);
      if (r.rows[0].done) return;
      await sleep(50);
    }
    throw new Error('the replica did not catch up within 10 s');
  }

  beforeAll(async () => {
    const name = new URL(database.ownerUrl!).pathname;
    const adminUrl = new URL(REPLICA!);
    adminUrl.pathname = name;
    // CREATE DATABASE reaches the replica by replay: wait for it to appear.
    for (let i = 0; ; i++) {
      replicaAdmin = new pg.Client({ connectionString: adminUrl.toString() });
      try {
        await replicaAdmin.connect();
        break;
      } catch (err) {
        if (i > 100) throw err;
        await sleep(100);
      }
    }
    const appUrl = new URL(adminUrl.toString());
    appUrl.username = APP_LOGIN_ROLE;
    replica = openPostgres(appUrl.toString(), { max: 3 });
    t = await createTestApp(database.app, { auditDb: replica.db });
    await caughtUp();
  });
  afterAll(async () => {
    await replicaAdmin?.query('SELECT pg_wal_replay_resume()').catch(() => undefined);
    await replicaAdmin?.end();
    t?.deps.metrics.close();
    await replica?.close();
  });

  it('is a read-only hot standby of the primary', async () => {
    const r = await replicaAdmin.query('SELECT pg_is_in_recovery() AS standby');
    expect(r.rows[0].standby).toBe(true);
    await expect(replicaAdmin.query(`INSERT INTO access_log (request_id, action, decision) VALUES ('x', 'x', 'allow')`)).rejects.toThrow(/read-only/);
  });

  it('searches of the access log read the replica and say how fresh they are', async () => {
    const res = await request(t.app).get('/v1/audit/events').query({ subject: subject.id }).set(bearer(compliance));
    expect(res.status, res.text).toBe(200);
    expect(res.headers['audit-source']).toBe('replica');
    expect(res.body.freshness.source).toBe('replica');
    expect(Date.parse(String(res.headers['audit-as-of']))).toBe(Date.parse(res.body.freshness.asOf));
    expect(Date.now() - Date.parse(res.body.freshness.asOf)).toBeLessThan(60_000);
    expect(res.body.events.map((e: { action: string }) => e.action)).toContain('subject.read');
    // The search's own entry is on the primary, committed before the replica was read.
    const { rows } = await database.admin(`SELECT decision, action, detail FROM access_log WHERE request_id = $1`, [res.headers['x-request-id']]);
    expect(rows).toEqual([expect.objectContaining({ decision: 'allow', action: 'audit.read', detail: expect.objectContaining({ readFrom: 'replica' }) })]);
  });

  it('what the replica has not replayed yet is not in the answer, and the answer says it is behind', async () => {
    await caughtUp();
    await replicaAdmin.query('SELECT pg_wal_replay_pause()');
    const read = await request(t.app).get(`/v1/subjects/${subject.id}`).set(bearer(clerk));
    try {
      expect(read.status).toBe(200);
      await sleep(300); // the WAL reaches the replica, which does not apply it
      const res = await request(t.app).get('/v1/audit/events').query({ subject: subject.id }).set(bearer(compliance));
      expect(res.status, res.text).toBe(200);
      expect(res.body.freshness).toMatchObject({ source: 'replica', caughtUp: false });
      const ids = res.body.events.map((e: { requestId: string }) => e.requestId);
      expect(ids).not.toContain(read.headers['x-request-id']);
      // The primary-only app sees it at once: the difference is the replica's.
      const direct = await request(primaryOnly.app).get('/v1/audit/events').query({ subject: subject.id }).set(bearer(compliance));
      expect(direct.body.events.map((e: { requestId: string }) => e.requestId)).toContain(read.headers['x-request-id']);
    } finally {
      await replicaAdmin.query('SELECT pg_wal_replay_resume()');
    }
    await caughtUp();
    const res = await request(t.app).get('/v1/audit/events').query({ subject: subject.id }).set(bearer(compliance));
    expect(res.body.freshness.source).toBe('replica');
    // (caughtUp may be false again already: the replica streams the whole server's WAL.)
    expect(res.body.events.map((e: { requestId: string }) => e.requestId)).toContain(read.headers['x-request-id']);
  });

  it('accountings of disclosures and their exports read the replica; an unknown person is refused and logged on the primary', async () => {
    await caughtUp();
    for (const format of ['json', 'csv', 'fhir']) {
      const res = await request(t.app).get(`/v1/audit/subjects/${subject.id}/disclosures`).query({ format }).set(bearer(compliance));
      expect(res.status, res.text).toBe(200);
      expect(res.headers['audit-source']).toBe('replica');
      if (format === 'json') {
        expect(res.body.freshness.source).toBe('replica');
        expect(res.body.disclosures.length).toBeGreaterThan(0);
      }
    }
    const unknown = '00000000-0000-4000-8000-000000000000';
    const res = await request(t.app).get(`/v1/audit/subjects/${unknown}/disclosures`).set(bearer(compliance));
    expect(res.status).toBe(404);
    const { rows } = await database.admin(`SELECT decision, reason FROM access_log WHERE request_id = $1`, [res.headers['x-request-id']]);
    expect(rows).toEqual([{ decision: 'deny', reason: 'not-found' }]);
  });

  it('the break-glass review queue and reviews stay on the primary', async () => {
    await replicaAdmin.query('SELECT pg_wal_replay_pause()');
    try {
      const grant = await request(t.app)
        .post(`/v1/subjects/${subject.id}/break-glass`)
        .set(bearer(clinician))
        .send({ reason: 'Crisis team on scene, needs history' });
      expect(grant.status, grant.text).toBe(201);
      // Not replayed on the replica yet, but the queue (read on the primary) has it at once.
      const queue = await request(t.app).get('/v1/audit/break-glass').set(bearer(compliance));
      expect(queue.body.grants.map((g: { id: string }) => g.id)).toContain(grant.body.id);
      const review = await request(t.app).post(`/v1/audit/break-glass/${grant.body.id}/review`).set(bearer(compliance)).send({ decision: 'justified' });
      expect(review.status, review.text).toBe(201);
    } finally {
      await replicaAdmin.query('SELECT pg_wal_replay_resume()');
    }
  });

  it('fails closed: if the entry cannot be written on the primary, the replica is not read', async () => {
    await database.admin('CREATE TRIGGER fault_block_log BEFORE INSERT ON access_log FOR EACH ROW EXECUTE FUNCTION tiergate_reject_change()');
    try {
      const res = await request(t.app).get('/v1/audit/events').query({ subject: subject.id }).set(bearer(compliance));
      expect(res.status).toBe(503);
      expect(res.text).not.toContain(subject.id);
    } finally {
      await database.admin('DROP TRIGGER IF EXISTS fault_block_log ON access_log');
    }
  });

  it('a replica that cannot be reached is a 503 with nothing disclosed, and the entry stands', async () => {
    const gone = openPostgres('postgres://tiergate_gateway@127.0.0.1:1/none', { max: 1 });
    const broken = await createTestApp(database.app, { auditDb: gone.db });
    try {
      const res = await request(broken.app).get('/v1/audit/events').query({ subject: subject.id }).set(bearer(compliance));
      expect(res.status).toBe(503);
      expect(res.headers['content-type']).toMatch(/problem\+json/);
      expect(res.text).not.toContain(subject.id);
      const { rows } = await database.admin(`SELECT decision FROM access_log WHERE request_id = $1`, [res.headers['x-request-id']]);
      expect(rows).toEqual([{ decision: 'allow' }]);
    } finally {
      broken.deps.metrics.close();
      await gone.close();
    }
  });
});
