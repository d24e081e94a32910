import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { decodeProtectedHeader } from 'jose';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEALER_LOCK } from '../../src/audit/seal.js';
import { DEFAULT_POLICY_FILE } from '../../src/authz/policy.js';
import { createTestApp, TEST_ENV, type TestApp } from '../helpers/app.js';
import { runScript } from '../helpers/cli.js';
import { ConsoleClient } from '../helpers/console.js';
import { APP_LOGIN_ROLE, openTestDatabase, type TestDatabase } from '../helpers/db.js';
import { createAgency, createSubject, createUser, TEST_PASSWORD, type TestUser } from '../helpers/factories.js';
import { startInstance, type Instance } from '../helpers/instances.js';

// Three gateway processes on one PostgreSQL database, under load: one sealer at a time, one
// chain of checkpoints (one signer per interval of the policy's schedule), a log that verifies, a
// key rotated on one instance used by all, a revocation made on one refused by the others on the
// next request, and the console's log verification as one job seen from every instance.
// PostgreSQL only (PGlite admits one process). Ports 3107-3109.

const PORTS = [3107, 3108, 3109];
let database: TestDatabase;
let t: TestApp;
let instances: Instance[] = [];
let clerk: TestUser;
let admin: TestUser;
let officers: TestUser[];
let subject: { id: string };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const get = (i: Instance, path: string, token: string) => fetch(`${i.url}${path}`, { headers: { Authorization: `Bearer ${token}` } });
async function login(i: Instance, username: string): Promise<string> {
  const res = await fetch(`${i.url}/oauth/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ grant_type: 'password', username, password: TEST_PASSWORD }),
  });
  expect(res.status, await res.clone().text()).toBe(200);
  return ((await res.json()) as { access_token: string }).access_token;
}
async function until(what: string, check: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

describe.runIf(process.env.TEST_DRIVER === 'pg')('three gateway instances on one database', () => {
  beforeAll(async () => {
    database = await openTestDatabase();
    t = await createTestApp(database.app); // creates the first signing key
    const [police, gw, mh] = await Promise.all([
      createAgency(t.deps.db, 'police'),
      createAgency(t.deps.db, 'gateway'),
      createAgency(t.deps.db, 'mental_health'),
    ]);
    const clinician = await createUser(t.deps, mh, 'clinician');
    [clerk, admin] = await Promise.all([createUser(t.deps, police, 'records_staff'), createUser(t.deps, gw, 'admin')]);
    officers = await Promise.all([createUser(t.deps, gw, 'compliance_officer'), createUser(t.deps, gw, 'compliance_officer')]);
    // The protocol as shipped, but a checkpoint every second (not every minute), so that a few
    // seconds of load make a chain of them.
    const shipped = readFileSync(DEFAULT_POLICY_FILE, 'utf8');
    expect(shipped).toMatch(/^ {2}everySeconds: 60$/m);
    const policyFile = path.join(mkdtempSync(path.join(tmpdir(), 'tiergate-policy-')), 'protocol.yaml');
    writeFileSync(policyFile, shipped.replace(/^ {2}everySeconds: 60$/m, '  everySeconds: 1'));
    subject = await createSubject(t.deps.db, clinician);
    const appUrl = new URL(database.ownerUrl!);
    appUrl.username = APP_LOGIN_ROLE;
    instances = await Promise.all(
      ['a', 'b', 'c'].map((name, n) => {
        const url = new URL(appUrl.toString());
        url.searchParams.set('application_name', `tiergate-${name}`);
        return startInstance(name, PORTS[n]!, {
          ...TEST_ENV,
          DATABASE_URL: url.toString(),
          MIGRATION_DATABASE_URL: database.ownerUrl!,
          SEAL_INTERVAL_MS: '200',
          POLICY_FILE: policyFile,
          // The verification test holds a lock its export waits for, longer than the default bounds.
          DB_STATEMENT_TIMEOUT_MS: '30000',
          DB_LOCK_TIMEOUT_MS: '30000',
        });
      }),
    );
  }, 180_000);

  afterAll(async () => {
    await Promise.all(instances.map((i) => i.stop()));
    t?.deps.metrics.close();
    await database?.close();
  });

  it('keeps one log under load: one sealer at a time, one chain of checkpoints, and it verifies', async () => {
    let running = true;
    const answered = new Map<string, number>();
    // Load: 12 clients reading one record round robin over the three instances (each read logs).
    const load = Array.from({ length: 12 }, async (_, n) => {
      for (let k = n; running; k++) {
        const instance = instances[k % 3]!;
        const res = await get(instance, `/v1/subjects/${subject.id}`, clerk.token);
        await res.arrayBuffer();
        expect(res.status).toBe(200);
        answered.set(instance.name, (answered.get(instance.name) ?? 0) + 1);
      }
    });
    // Meanwhile, who holds the sealer's advisory lock (one sample every 10 ms).
    const holders = new Set<string>();
    let mostAtOnce = 0;
    let waitedFor = 0;
    const sampler = (async () => {
      while (running) {
        const { rows } = await database.admin(
          `SELECT a.application_name AS app, l.granted FROM pg_locks l JOIN pg_stat_activity a USING (pid)
            WHERE l.locktype = 'advisory' AND l.classid = 0 AND l.objid = $1 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
          [SEALER_LOCK],
        );
        const granted = rows.filter((r) => r.granted);
        mostAtOnce = Math.max(mostAtOnce, granted.length);
        waitedFor += rows.length - granted.length;
        for (const r of granted) holders.add(String(r.app));
        await sleep(10);
      }
    })();
    await sleep(6_000);
    running = false;
    await Promise.all([...load, sampler]);

    expect([...answered.keys()].sort()).toEqual(['a', 'b', 'c']);
    expect(mostAtOnce).toBeLessThanOrEqual(1);
    expect(holders.size).toBeGreaterThanOrEqual(2); // the instances take turns
    expect([...holders].every((h) => /^tiergate-[abc]$/.test(h))).toBe(true);
    console.error(
      `sealer lock: held by ${[...holders].sort().join(', ')}; most at once ${mostAtOnce}; waiting samples ${waitedFor}; answered ${JSON.stringify(Object.fromEntries(answered))}`,
    );

    // Every entry sealed once, leaves 0..n-1 without gaps.
    await until('the seal queue to drain', async () => (await database.admin('SELECT count(*)::int AS n FROM audit_seal_queue')).rows[0]!.n === 0);
    const { rows: seals } = await database.admin(
      `SELECT (SELECT count(*)::int FROM access_log) AS entries, count(*)::int AS leaves, count(DISTINCT entry_id)::int AS sealed,
              min(leaf_index)::int AS first, max(leaf_index)::int AS last FROM audit_seals`,
    );
    const s = seals[0]!;
    expect(s.leaves).toBe(s.entries);
    expect(s.sealed).toBe(s.entries);
    expect([s.first, s.last]).toEqual([0, Number(s.entries) - 1]);
    expect(Number(s.entries)).toBeGreaterThan(100);

    // Checkpoints: one chain, growing in the order they were signed.
    await until('the last checkpoint', async () => (await database.admin('SELECT max(tree_size)::int AS n FROM audit_checkpoints')).rows[0]!.n === s.entries);
    const { rows: cps } = await database.admin('SELECT tree_size::int AS size, issued_at FROM audit_checkpoints ORDER BY issued_at, tree_size');
    expect(cps.length).toBeGreaterThan(2);
    for (let k = 1; k < cps.length; k++) expect(cps[k]!.size).toBeGreaterThan(cps[k - 1]!.size as number);
    // One signer per interval (everySeconds: 1) across the three, though each seals every 200 ms.
    const gaps = cps.slice(1).map((c, k) => (c.issued_at as Date).getTime() - (cps[k]!.issued_at as Date).getTime());
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(1_000);
    console.error(`checkpoints: ${cps.length} over the load, shortest gap between two ${Math.min(...gaps)} ms`);

    // The offline verifier: every checkpoint's root over the same leaves, so no fork.
    const verify = await runScript('scripts/audit-verify.ts', [], { DATABASE_URL: database.ownerUrl!, LOG_LEVEL: 'silent' });
    expect(verify.code, verify.stderr + verify.stdout).toBe(0);
    expect(verify.stdout).toMatch(new RegExp(`^OK: ${s.entries} sealed entries verify against ${cps.length} signed checkpoints`));
  }, 120_000);

  it('verifies the log as one job that every instance shows: started on a, followed on b, a second start on c told to wait', async () => {
    const [a, b, c] = instances as [Instance, Instance, Instance];
    const [first, second] = officers as [TestUser, TestUser];
    const onA = await ConsoleClient.signIn(a.url, first.username, TEST_PASSWORD);
    const onC = await ConsoleClient.signIn(c.url, second.username, TEST_PASSWORD);
    // Hold the job's export at its read of the retention records (nothing else reads them), so it
    // is still running while the other instances look at it.
    const blocker = new pg.Client({ connectionString: database.ownerUrl });
    await blocker.connect();
    let id: string;
    try {
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE audit_retentions IN ACCESS EXCLUSIVE MODE');
      const started = await onA.post('/compliance/integrity/verify');
      expect(started.status, started.text).toBe(303);
      id = /\/compliance\/integrity\/verify\/([0-9a-f-]{36})$/.exec(started.headers.get('location') ?? '')![1]!;
      // The same job, in progress, from every instance (in one worker's memory it answered 404 on the others).
      for (const i of [b, c, a, b, c]) {
        const res = await onA.on(i.url).get(`/compliance/integrity/verify/${id}.json`);
        expect(res.status, i.name).toBe(200);
        expect(JSON.parse(res.text), i.name).toEqual({ phase: 'reading', entries: null, ok: null });
      }
      expect((await onA.on(b.url).get(`/compliance/integrity/verify/${id}`)).text).toContain('Step 1 of 2: reading the log');
      // Another compliance officer on c is told to wait, by whom and since when, with the link.
      const told = await onC.post('/compliance/integrity/verify');
      expect(told.status).toBe(409);
      expect(told.text).toContain(`A verification is running, started by ${first.username} at`);
      expect(told.text).toContain(`href="/compliance/integrity/verify/${id}"`);
      const page = await onC.get('/compliance/integrity');
      expect(page.text).not.toContain('>Verify the log now</button>');
      expect(page.text).toContain(`href="/compliance/integrity/verify/${id}"`);
    } finally {
      await blocker.query('COMMIT').catch(() => undefined);
      await blocker.end();
    }
    // The result, read on b and on c.
    await expect
      .poll(async () => JSON.parse((await onA.on(b.url).get(`/compliance/integrity/verify/${id}.json`)).text).phase, { timeout: 30_000 })
      .toBe('done');
    expect(JSON.parse((await onC.get(`/compliance/integrity/verify/${id}.json`)).text)).toMatchObject({ phase: 'done', ok: true, entries: expect.any(Number) });
    expect((await onA.on(b.url).get(`/compliance/integrity/verify/${id}`)).text).toMatch(/<strong>Verified:<\/strong> all \d+ entries/);
    const { rows } = await database.admin('SELECT id::text, phase, finished_at IS NOT NULL AS finished FROM audit_verify_jobs');
    expect(rows).toEqual([{ id, phase: 'done', finished: true }]);
    // Done: the next one may start, on any instance.
    const next = await onC.post('/compliance/integrity/verify');
    expect(next.status).toBe(303);
  }, 90_000);

  it('a key rotated on one instance is published and used by all', async () => {
    const [a, b, c] = instances as [Instance, Instance, Instance];
    const rotated = await fetch(`${a.url}/v1/admin/keys/rotate`, { method: 'POST', headers: { Authorization: `Bearer ${admin.token}` } });
    expect(rotated.status, await rotated.clone().text()).toBe(201);
    const { kid } = (await rotated.json()) as { kid: string };
    // Published at once by every instance (each re-reads the key table when stale).
    for (const i of instances) {
      await until(`${i.name} to publish ${kid}`, async () => {
        const jwks = (await (await fetch(`${i.url}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] };
        return jwks.keys.some((k) => k.kid === kid);
      });
    }
    // The publish delay (120 s) elapses: the new key signs.
    await database.admin('UPDATE signing_keys SET activates_at = now() WHERE kid = $1', [kid]);
    let token = '';
    await until(`${b.name} to sign with ${kid}`, async () => {
      token = await login(b, clerk.username);
      return decodeProtectedHeader(token).kid === kid;
    });
    for (const i of [a, c, b]) expect((await get(i, `/v1/subjects/${subject.id}`, token)).status).toBe(200);
    // And the tokens signed before the rotation still verify everywhere.
    for (const i of instances) expect((await get(i, `/v1/subjects/${subject.id}`, clerk.token)).status).toBe(200);
  }, 60_000);

  it('a token revoked on one instance is refused by the others on the next request', async () => {
    const [a, b, c] = instances as [Instance, Instance, Instance];
    const token = await login(a, clerk.username);
    for (const i of instances) expect((await get(i, `/v1/subjects/${subject.id}`, token)).status).toBe(200);
    const revoked = await fetch(`${a.url}/oauth/revoke`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: `token=${token}`,
    });
    expect(revoked.status).toBe(200);
    for (const i of [b, c, a]) {
      const res = await get(i, `/v1/subjects/${subject.id}`, token);
      expect(res.status, i.name).toBe(401);
    }
  }, 60_000);
});
