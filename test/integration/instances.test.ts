import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEALER_LOCK } from '../../src/audit/seal.js';
import { createTestApp, TEST_ENV, type TestApp } from '../helpers/app.js';
import { runScript } from '../helpers/cli.js';
import { APP_LOGIN_ROLE, openTestDatabase, type TestDatabase } from '../helpers/db.js';
import { createAgency, createSubject, createUser, TEST_PASSWORD, type TestUser } from '../helpers/factories.js';
import { startInstance, type Instance } from '../helpers/instances.js';

// Three gateway processes on one PostgreSQL database, under load: one sealer at a time, one
// chain of checkpoints, a log that verifies, a key rotated on one instance used by all, and a
// revocation made on one refused by the others on the next request. PostgreSQL only (PGlite
// admits one process). Ports 3107-3109.

const PORTS = [3107, 3108, 3109];
let database: TestDatabase;
let t: TestApp;
let instances: Instance[] = [];
let clerk: TestUser;
let admin: TestUser;
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

    // The offline verifier: every checkpoint's root over the same leaves, so no fork.
    const verify = await runScript('scripts/audit-verify.ts', [], { DATABASE_URL: database.ownerUrl!, LOG_LEVEL: 'silent' });
    expect(verify.code, verify.stderr + verify.stdout).toBe(0);
    expect(verify.stdout).toMatch(new RegExp(`^OK: ${s.entries} sealed entries verify against ${cps.length} signed checkpoints`));
  }, 120_000);

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
