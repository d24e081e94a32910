import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportLog } from '../../src/audit/export.js';
import { verifyLog } from '../../src/audit/verify.js';
import { claimVerifyJob, runVerifyJob } from '../../src/audit/verify-jobs.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { ConsoleClient } from '../helpers/console.js';
import { openTestDatabase, type TestDatabase } from '../helpers/db.js';
import { bearer, createAgency, createSubject, createUser, TEST_PASSWORD, type TestUser } from '../helpers/factories.js';

// The console's whole-log verification as a job in the database: one at a time per deployment,
// visible to every role that may verify, a dead worker's job released when its lease lapses; and
// the integrity page offers the verification only to a role the decision point lets verify.
// (Across processes: test/integration/instances.test.ts.) Both drivers.

let database: TestDatabase;
let t: TestApp;
let server: Server;
let base: string;
let officer: TestUser;
let second: TestUser;
let clerk: TestUser;
let admin: TestUser;

const jobs = () => database.admin('SELECT id::text, phase, finished_at, report FROM audit_verify_jobs ORDER BY started_at').then((r) => r.rows);
const jobIn = (location: string | null) => /^\/compliance\/integrity\/verify\/([0-9a-f-]{36})$/.exec(location ?? '')?.[1];
const VERIFY_BUTTON = '>Verify the log now</button>';
// What a worker does with a job it claimed (as the console's handler does, without the request's log entry).
const steps = { read: () => exportLog(t.deps.db), check: verifyLog };

async function finished(client: ConsoleClient, id: string) {
  let body: { phase: string; ok: boolean | null } = { phase: 'reading', ok: null };
  await expect
    .poll(
      async () => {
        body = JSON.parse((await client.get(`/compliance/integrity/verify/${id}.json`)).text) as typeof body;
        return body.phase;
      },
      { timeout: 20_000 },
    )
    .toMatch(/^(done|failed)$/);
  return body;
}

beforeAll(async () => {
  database = await openTestDatabase();
  t = await createTestApp(database.app);
  const [gateway, police, mh] = await Promise.all([
    createAgency(t.deps.db, 'gateway'),
    createAgency(t.deps.db, 'police'),
    createAgency(t.deps.db, 'mental_health'),
  ]);
  [officer, second, clerk, admin] = await Promise.all([
    createUser(t.deps, gateway, 'compliance_officer'),
    createUser(t.deps, gateway, 'compliance_officer'),
    createUser(t.deps, police, 'records_staff'),
    createUser(t.deps, gateway, 'admin'),
  ]);
  const subject = await createSubject(t.deps.db, await createUser(t.deps, mh, 'clinician'));
  for (let k = 0; k < 3; k++) expect((await request(t.app).get(`/v1/subjects/${subject.id}`).set(bearer(clerk))).status).toBe(200);
  server = createServer(t.app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  if (server) await new Promise((resolve) => server.close(resolve));
  t?.deps.metrics.close();
  await database?.close();
});

describe('the integrity page offers what the role may do', () => {
  it('a partner user sees the checkpoint but no verify button, and a verification posted anyway is refused and starts nothing', async () => {
    const partner = await ConsoleClient.signIn(base, clerk.username, TEST_PASSWORD);
    const page = await partner.get('/compliance/integrity');
    expect(page.status).toBe(200);
    expect(page.text).toContain('Log integrity');
    expect(page.text).not.toContain(VERIFY_BUTTON);
    expect(page.text).not.toContain('action="/compliance/integrity/verify"');
    const refused = await partner.post('/compliance/integrity/verify');
    expect(refused.status).toBe(403);
    expect(await jobs()).toEqual([]);
    const denied = await database.admin("SELECT count(*)::int AS n FROM access_log WHERE actor_user_id = $1 AND action = 'audit.read' AND decision = 'deny'", [
      clerk.userId,
    ]);
    expect(denied.rows[0]!.n).toBe(1);
  });

  it('the compliance officer is offered it, and it runs', async () => {
    const me = await ConsoleClient.signIn(base, officer.username, TEST_PASSWORD);
    const page = await me.get('/compliance/integrity');
    expect(page.status).toBe(200);
    expect(page.text).toContain(VERIFY_BUTTON);
    const started = await me.post('/compliance/integrity/verify');
    expect(started.status).toBe(303);
    const id = jobIn(started.headers.get('location'))!;
    expect(id).toBeDefined();
    expect(await finished(me, id)).toEqual({ phase: 'done', entries: expect.any(Number), ok: true });
    const result = await me.get(`/compliance/integrity/verify/${id}`);
    expect(result.text).toMatch(/<strong>Verified:<\/strong> all \d+ entries/);
    expect(result.text).toContain(`Started by ${officer.username}`);
    // The job row holds a summary only: counts and no entry, no person.
    const [row] = await jobs();
    expect(row).toMatchObject({ id, phase: 'done', report: { ok: true, leaves: expect.any(Number) } });
    expect(Object.keys(row!.report as object).sort()).toEqual(['checkpoints', 'leaves', 'ok', 'pending', 'retired']);
  });

  it('the operator’s users page offers no change to the operator’s own account (each would be refused)', async () => {
    const operator = await ConsoleClient.signIn(base, admin.username, TEST_PASSWORD);
    const page = await operator.get('/admin/users');
    expect(page.status).toBe(200);
    expect(page.text).not.toContain(`/admin/users/${admin.userId}/`);
    expect(page.text).toContain(`/admin/users/${clerk.userId}/role`);
    // What the form would have done: refused.
    expect((await operator.post(`/admin/users/${admin.userId}/disable`, { confirm: 'yes' })).status).toBe(409);
  });
});

describe('one verification at a time per deployment', () => {
  it('while one runs, a second start is told to wait: who started it, when, and a link to its progress, which any verifier may follow', async () => {
    // A job claimed and running in some worker (its lease fresh).
    const claim = await claimVerifyJob(t.deps.db, officer.userId);
    expect('started' in claim).toBe(true);
    const running = 'started' in claim ? claim.started : claim.running;

    const other = await ConsoleClient.signIn(base, second.username, TEST_PASSWORD);
    const page = await other.get('/compliance/integrity');
    expect(page.text).not.toContain(VERIFY_BUTTON);
    expect(page.text).toContain(`A verification is running, started by ${officer.username} at`);
    expect(page.text).toContain(`href="/compliance/integrity/verify/${running.id}"`);
    const told = await other.post('/compliance/integrity/verify');
    expect(told.status).toBe(409);
    expect(told.text).toContain(`started by ${officer.username}`);
    expect(told.text).toContain(`href="/compliance/integrity/verify/${running.id}"`);
    expect((await jobs()).filter((j) => j.finished_at === null)).toHaveLength(1);

    // Another compliance officer follows it; a partner and the operator do not.
    const progress = await other.get(`/compliance/integrity/verify/${running.id}.json`);
    expect(progress.status).toBe(200);
    expect(JSON.parse(progress.text)).toEqual({ phase: 'reading', entries: null, ok: null });
    const partner = await ConsoleClient.signIn(base, clerk.username, TEST_PASSWORD);
    expect((await partner.get(`/compliance/integrity/verify/${running.id}`)).status).toBe(403);
    expect((await partner.get(`/compliance/integrity/verify/${running.id}.json`)).status).toBe(403);
    const operator = await ConsoleClient.signIn(base, admin.username, TEST_PASSWORD);
    expect((await operator.get(`/compliance/integrity/verify/${running.id}.json`)).status).toBe(403);
    expect((await other.get('/compliance/integrity/verify/not-a-job')).status).toBe(404);

    // The worker finishes it; then the next one may start.
    await runVerifyJob(t.deps.db, running.id, steps);
    expect(JSON.parse((await other.get(`/compliance/integrity/verify/${running.id}.json`)).text)).toMatchObject({ phase: 'done', ok: true });
    const next = await other.post('/compliance/integrity/verify');
    expect(next.status).toBe(303);
    expect(await finished(other, jobIn(next.headers.get('location'))!)).toMatchObject({ phase: 'done', ok: true });
  });

  it('the database holds the rule: of simultaneous starts exactly one runs, and a second running row is refused outright', async () => {
    const claims = await Promise.all([officer, second, officer, second, officer].map((u) => claimVerifyJob(t.deps.db, u.userId)));
    const started = claims.filter((c) => 'started' in c);
    expect(started).toHaveLength(1);
    const id = 'started' in started[0]! ? started[0].started.id : '';
    for (const c of claims) if ('running' in c) expect(c.running.id).toBe(id);
    await expect(database.admin('INSERT INTO audit_verify_jobs (requested_by) VALUES ($1)', [second.userId])).rejects.toThrow(/audit_verify_jobs_one_running/);
    await database.admin("UPDATE audit_verify_jobs SET phase = 'failed', finished_at = now() WHERE id = $1", [id]);
  });
});

describe('a worker that died mid-job', () => {
  it('blocks no one once its lease lapses: the job shows as stopped, is closed as failed, and a new one starts', async () => {
    const claim = await claimVerifyJob(t.deps.db, officer.userId);
    const dead = 'started' in claim ? claim.started : claim.running;
    const other = await ConsoleClient.signIn(base, second.username, TEST_PASSWORD);
    // Fresh lease: it blocks (the twin).
    expect((await other.post('/compliance/integrity/verify')).status).toBe(409);
    // Its worker stopped renewing the lease two minutes ago.
    await database.admin("UPDATE audit_verify_jobs SET heartbeat_at = now() - interval '2 minutes' WHERE id = $1", [dead.id]);
    const shown = await other.get(`/compliance/integrity/verify/${dead.id}`);
    expect(shown.text).toContain('The verification could not be run: the gateway running it stopped. Try again.');
    expect(JSON.parse((await other.get(`/compliance/integrity/verify/${dead.id}.json`)).text)).toMatchObject({ phase: 'failed' });
    const page = await other.get('/compliance/integrity');
    expect(page.text).toContain(VERIFY_BUTTON);

    const next = await other.post('/compliance/integrity/verify');
    expect(next.status).toBe(303);
    const nextId = jobIn(next.headers.get('location'))!;
    expect(nextId).not.toBe(dead.id);
    expect(await finished(other, nextId)).toMatchObject({ phase: 'done', ok: true });
    const rows = await jobs();
    expect(rows.find((r) => r.id === dead.id)).toMatchObject({ phase: 'failed', finished_at: expect.anything(), report: null });

    // The dead worker coming back to life never reopens its closed job.
    await runVerifyJob(t.deps.db, dead.id, steps);
    expect((await jobs()).find((r) => r.id === dead.id)).toMatchObject({ phase: 'failed', report: null });
  });
});

describe('console assets', () => {
  it('a missing asset is a 404 page under the console’s CSP, and stores no session', async () => {
    for (const path of ['/assets/does-not-exist.css', '/assets/uswds/js/nothing.js']) {
      const res = await fetch(`${base}${path}`);
      expect(res.status, path).toBe(404);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      const csp = res.headers.get('content-security-policy')!;
      expect(csp).toContain("default-src 'none'");
      expect(csp).toContain("style-src 'self'");
      expect(csp).toContain("form-action 'self'");
      expect(res.headers.getSetCookie()).toEqual([]);
      expect(await res.text()).toContain('Not found');
    }
    const css = await fetch(`${base}/assets/console.css`);
    expect(css.status).toBe(200);
    expect(css.headers.get('content-type')).toMatch(/^text\/css/);
  });
});
