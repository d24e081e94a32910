import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, rmSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import { appendAccessLog } from '../../src/audit/append.js';
import { openPostgres, transaction, type Database } from '../../src/db/client.js';
import { migrate } from '../../src/db/migrate.js';
import { createTestApp, TEST_ENV, type TestApp } from '../helpers/app.js';
import { expectNoMarkers, expectProblem } from '../helpers/assertions.js';
import { APP_LOGIN_ROLE, openTestDatabase, type TestDatabase } from '../helpers/db.js';
import { bearer, createAgency, createEntry, createSubject, createUser, type TestUser } from '../helpers/factories.js';

// Issue 11, fail fast and drain: when PostgreSQL cannot answer (a locked log, every pooled
// connection busy, the server restarting) a request answers 503 with Retry-After within a few
// seconds, discloses nothing and leaves nothing half-written; on SIGTERM the gateway drains.
// Timings are asserted only as generous bounds; the benchmark measures them.

const GENEROUS_MS = 10_000;
const isPg = process.env.TEST_DRIVER === 'pg';

let database: TestDatabase;
let t: TestApp;
let clinician: TestUser;
let subject: Awaited<ReturnType<typeof createSubject>>;
const markers: string[] = [];

beforeAll(async () => {
  database = await openTestDatabase();
  t = await createTestApp(database.app);
  const mh = await createAgency(t.deps.db, 'mental_health');
  clinician = await createUser(t.deps, mh, 'clinician');
  subject = await createSubject(t.deps.db, clinician, { givenName: 'Resilia', familyName: `Faultline${Date.now()}` });
  markers.push(subject.familyName, (await createEntry(t.deps.db, subject.id, clinician, 'intermediate')).marker);
});
afterAll(() => database?.close());

async function count(table: string, where = 'true', params: unknown[] = []): Promise<number> {
  const { rows } = await database.admin(`SELECT count(*)::int AS n FROM ${table} WHERE ${where}`, params);
  return Number(rows[0]!.n);
}

/** The app role's URL for this test database (PostgreSQL only). */
async function appUrl(): Promise<string> {
  const { rows } = await database.admin('SELECT current_database() AS name');
  const url = new URL(process.env.TEST_DATABASE_URL!);
  url.pathname = `/${rows[0]!.name as string}`;
  url.username = APP_LOGIN_ROLE;
  url.password = '';
  return url.toString();
}

function expectFast503(res: request.Response, startedAt: number): void {
  expectProblem(res, 503);
  expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
  expect(Date.now() - startedAt).toBeLessThan(GENEROUS_MS);
  expectNoMarkers(res, markers);
}

describe('503 with Retry-After', () => {
  it('every 503 problem carries Retry-After (the log refusing entries, both drivers)', async () => {
    await database.admin(`CREATE OR REPLACE FUNCTION fault_refuse_log() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$`);
    await database.admin('CREATE TRIGGER fault_refuse_log BEFORE INSERT ON access_log FOR EACH ROW EXECUTE FUNCTION fault_refuse_log()');
    try {
      const started = Date.now();
      const read = await request(t.app).get(`/v1/subjects/${subject.id}`).set(bearer(clinician));
      expectFast503(read, started);
      const ready = await request(t.app).get('/readyz');
      expect(ready.status).toBe(503);
      expect(Number(ready.headers['retry-after'])).toBeGreaterThan(0);
    } finally {
      await database.admin('DROP TRIGGER IF EXISTS fault_refuse_log ON access_log');
    }
    expect((await request(t.app).get(`/v1/subjects/${subject.id}`).set(bearer(clinician))).status).toBe(200);
  });
});

describe.runIf(isPg)('PostgreSQL: the database cannot answer', () => {
  let fast: Database;
  let app: TestApp;
  beforeAll(async () => {
    // Short bounds so the test is quick; production defaults are a few seconds.
    fast = openPostgres(await appUrl(), { max: 3, poolWaitMs: 500, statementTimeoutMs: 3_000, lockTimeoutMs: 300 });
    app = await createTestApp(fast);
  });
  afterAll(() => fast?.close());

  it('the log table locked by another session: fast 503 with Retry-After, nothing disclosed, nothing half-written', async () => {
    const locker = new pg.Client({ connectionString: database.ownerUrl });
    await locker.connect();
    const logBefore = await count('access_log');
    const flagsBefore = await count('risk_flags');
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE access_log IN ACCESS EXCLUSIVE MODE');
      for (const send of [
        () => request(app.app).get(`/v1/subjects/${subject.id}`).set(bearer(clinician)),
        () => request(app.app).get(`/v1/subjects/${subject.id}/risk-flags`).set(bearer(clinician)),
        () =>
          request(app.app)
            .post(`/v1/subjects/${subject.id}/risk-flags`)
            .set(bearer(clinician))
            .send({ code: 'weapon-access', severity: 'high', note: 'LOCKED-NOTE' }),
        () => request(app.app).get('/v1/subjects').query({ name: subject.familyName, dob: subject.birthDate }).set(bearer(clinician)),
      ]) {
        const started = Date.now();
        expectFast503(await send(), started);
      }
    } finally {
      await locker.query('ROLLBACK').catch(() => undefined);
      await locker.end();
    }
    // Nothing half-written: no entry without its data, no data without its entry.
    expect(await count('access_log')).toBe(logBefore);
    expect(await count('risk_flags')).toBe(flagsBefore);
    expect(await count('risk_flags', `note = 'LOCKED-NOTE'`)).toBe(0);
    const after = await request(app.app).get(`/v1/subjects/${subject.id}`).set(bearer(clinician));
    expect(after.status).toBe(200);
    expect(await count('access_log')).toBe(logBefore + 1);
  });

  it('pool exhaustion: a request that cannot get a connection answers 503 with Retry-After, then the pool serves again', async () => {
    const pool = (fast.db as unknown as { $client: pg.Pool }).$client;
    const held = await Promise.all([pool.connect(), pool.connect(), pool.connect()]);
    const logBefore = await count('access_log');
    try {
      const started = Date.now();
      expectFast503(await request(app.app).get(`/v1/subjects/${subject.id}`).set(bearer(clinician)), started);
      expect(await count('access_log')).toBe(logBefore);
    } finally {
      for (const c of held) c.release();
    }
    expect((await request(app.app).get(`/v1/subjects/${subject.id}`).set(bearer(clinician))).status).toBe(200);
  });

  it('a statement that outlasts statement_timeout answers 503 with Retry-After and rolls back', async () => {
    await database.admin(`CREATE OR REPLACE FUNCTION fault_slow_log() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(30); RETURN NEW; END $$`);
    await database.admin('CREATE TRIGGER fault_slow_log BEFORE INSERT ON access_log FOR EACH ROW EXECUTE FUNCTION fault_slow_log()');
    const logBefore = await count('access_log');
    try {
      const started = Date.now();
      expectFast503(await request(app.app).get(`/v1/subjects/${subject.id}/risk-flags`).set(bearer(clinician)), started);
    } finally {
      await database.admin('DROP TRIGGER IF EXISTS fault_slow_log ON access_log');
    }
    expect(await count('access_log')).toBe(logBefore);
  });
});

// ---------------------------------------------------------------------------------------------
// A private PostgreSQL instance, stopped and started under load: restarting the shared server
// would break everyone else's tests. Needs the PostgreSQL 15 binaries (PG_BIN to override).

const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';
const hasPgBinaries = isPg && spawnSync(path.join(PG_BIN, 'pg_ctl'), ['--version']).status === 0;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

class PrivatePostgres {
  readonly dir = mkdtempSync(path.join(tmpdir(), 'tiergate-pg-'));
  constructor(readonly port: number) {}
  // initdb refuses to run as root: run the server as the postgres user then.
  private run(bin: string, args: string[]) {
    const asRoot = process.getuid?.() === 0;
    const cmd = asRoot ? 'runuser' : path.join(PG_BIN, bin);
    const argv = asRoot ? ['-u', 'postgres', '--', path.join(PG_BIN, bin), ...args] : args;
    const r = spawnSync(cmd, argv, { encoding: 'utf8', timeout: 60_000 });
    if (r.status !== 0) throw new Error(`${bin} failed: ${r.stderr || r.stdout}`);
  }
  init() {
    if (process.getuid?.() === 0) {
      chmodSync(this.dir, 0o700);
      const id = (flag: string) => Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim());
      chownSync(this.dir, id('-u'), id('-g'));
    }
    this.run('initdb', ['-D', path.join(this.dir, 'data'), '-A', 'trust', '-U', 'postgres', '--no-sync']);
  }
  start() {
    const opts = `-p ${this.port} -c listen_addresses=127.0.0.1 -k ${this.dir} -c fsync=off -c shared_buffers=32MB`;
    this.run('pg_ctl', ['-D', path.join(this.dir, 'data'), '-o', opts, '-l', path.join(this.dir, 'log'), '-w', 'start']);
  }
  stop() {
    this.run('pg_ctl', ['-D', path.join(this.dir, 'data'), '-m', 'fast', '-w', 'stop']);
  }
  url(db = 'postgres') {
    return `postgres://postgres@127.0.0.1:${this.port}/${db}`;
  }
  destroy() {
    try {
      this.stop();
    } catch {
      /* already stopped */
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

describe.runIf(hasPgBinaries)('PostgreSQL restarted (a private instance)', () => {
  let server: PrivatePostgres;
  let db: Database;
  let app: TestApp;
  let reader: TestUser;
  let person: Awaited<ReturnType<typeof createSubject>>;
  beforeAll(async () => {
    server = new PrivatePostgres(await freePort());
    server.init();
    server.start();
    db = openPostgres(server.url(), { max: 4, poolWaitMs: 1_000, statementTimeoutMs: 3_000, lockTimeoutMs: 1_000 });
    await migrate(db);
    app = await createTestApp(db);
    const mh = await createAgency(app.deps.db, 'mental_health');
    reader = await createUser(app.deps, mh, 'clinician');
    person = await createSubject(app.deps.db, reader, { familyName: 'Restartson' });
  }, 120_000);
  afterAll(async () => {
    // The server goes first (fast shutdown ends its sessions), so closing the pool cannot wait on one.
    server?.destroy();
    await Promise.race([db?.close().catch(() => undefined), new Promise((r) => setTimeout(r, 5_000))]);
  }, 60_000);

  it('503 with Retry-After while down, recovery without a restart, one log entry per successful read', async () => {
    const statuses: number[] = [];
    let running = true;
    const client = async () => {
      while (running) {
        const res = await request(app.app).get(`/v1/subjects/${person.id}/risk-flags`).set(bearer(reader));
        statuses.push(res.status);
        if (res.status !== 200) {
          expectProblem(res, 503);
          expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
          expect(res.text).not.toContain('Restartson');
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    };
    const clients = Array.from({ length: 4 }, client);
    await new Promise((r) => setTimeout(r, 500));
    server.stop();
    const downAt = statuses.length;
    await new Promise((r) => setTimeout(r, 1_500));
    const whileDown = statuses.slice(downAt);
    server.start();
    // Recovery: the same app (same pool) answers 200 again, within a generous bound.
    const upAt = Date.now();
    while (Date.now() - upAt < GENEROUS_MS && !statuses.slice(downAt + whileDown.length).includes(200)) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 500));
    running = false;
    await Promise.all(clients);

    expect(whileDown.length).toBeGreaterThan(0);
    expect(whileDown.every((s) => s === 503 || s === 200)).toBe(true);
    expect(whileDown).toContain(503);
    expect(statuses.slice(downAt + whileDown.length)).toContain(200);
    expect(statuses.every((s) => s === 200 || s === 503)).toBe(true);
    const ok = statuses.filter((s) => s === 200).length;
    const c = new pg.Client({ connectionString: server.url() });
    await c.connect();
    const { rows } = await c.query(`SELECT count(*)::int AS n FROM access_log WHERE action = 'risk-flag.read' AND subject_id = $1`, [person.id]);
    await c.end();
    expect(rows[0].n).toBe(ok);
  }, 60_000);
});

// ---------------------------------------------------------------------------------------------
// SIGTERM under load: the gateway as its own process (src/main.ts, as `npm start` runs it).

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function get(port: number, pathname: string, agent: Agent, token?: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: pathname, agent, headers: token ? { authorization: `Bearer ${token}` } : {} }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('a transaction an error aborted', () => {
  it('never ends as a success: the work swallowed the error, and its entry did not commit', async () => {
    const requestId = `aborted-${Date.now()}`;
    const work = transaction(database.app.db, async (tx) => {
      await appendAccessLog(tx, { requestId, action: 'subject.read', decision: 'allow' });
      await tx.execute(sql`SELECT 1 / 0`).catch(() => undefined);
      return 'disclosed';
    });
    await expect(work).rejects.toThrow();
    expect(await count('access_log', 'request_id = $1', [requestId])).toBe(0);
  });
});

describe.runIf(isPg)('SIGTERM under load (the gateway as a child process)', () => {
  async function startGateway(env: Record<string, string> = {}) {
    const port = await freePort();
    const ownerUrl = database.ownerUrl!;
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      env: {
        ...process.env,
        ...TEST_ENV,
        LOG_LEVEL: 'info',
        DATABASE_URL: await appUrl(),
        MIGRATION_DATABASE_URL: ownerUrl,
        PORT: String(port),
        SEAL_INTERVAL_MS: '60000',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const started = Date.now();
    while (!out.includes('tiergate listening')) {
      if (child.exitCode !== null || Date.now() - started > 60_000) throw new Error(`gateway did not start: ${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return { port, child, exited, output: () => out };
  }

  it('readiness 503 at once, new connections refused, in-flight requests finish with Connection: close, the sealer seals them, exit 0', async () => {
    const gw = await startGateway();
    const agent = new Agent({ keepAlive: true, maxSockets: 16 });
    try {
      expect((await get(gw.port, '/readyz', agent)).status).toBe(200);
      await database.admin(`CREATE OR REPLACE FUNCTION fault_slow_log() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(1); RETURN NEW; END $$`);
      await database.admin('CREATE TRIGGER fault_slow_log BEFORE INSERT ON access_log FOR EACH ROW EXECUTE FUNCTION fault_slow_log()');
      const logBefore = await count('access_log', `action = 'subject.read' AND subject_id = $1`, [subject.id]);
      const inFlight = Array.from({ length: 8 }, () => get(gw.port, `/v1/subjects/${subject.id}`, agent, clinician.token));
      const readiness = get(gw.port, '/readyz', agent);
      // Wait until the reads sit in their transactions, then ask the gateway to stop.
      for (let i = 0; i < 200; i++) {
        const { rows } = await database.admin(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND datname = current_database()`);
        if (Number(rows[0]!.n) >= 8) break;
        await new Promise((r) => setTimeout(r, 25));
      }
      const stoppedAt = Date.now();
      gw.child.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 200));
      // New connections are refused at once.
      await expect(get(gw.port, '/healthz', new Agent({ keepAlive: false }))).rejects.toMatchObject({ code: 'ECONNREFUSED' });
      const ready = await readiness;
      expect(ready.status).toBe(503);
      expect(ready.headers.connection).toBe('close');
      const responses = await Promise.all(inFlight);
      await database.admin('DROP TRIGGER IF EXISTS fault_slow_log ON access_log');
      for (const res of responses) {
        expect(res.status, res.body).toBe(200);
        expect(res.headers.connection).toBe('close');
      }
      expect(await gw.exited).toBe(0);
      expect(Date.now() - stoppedAt).toBeLessThan(GENEROUS_MS + 5_000);
      // One entry per read, and the sealer sealed what the last requests wrote before exiting.
      expect(await count('access_log', `action = 'subject.read' AND subject_id = $1`, [subject.id])).toBe(logBefore + 8);
      expect(await count('audit_seal_queue')).toBe(0);
    } finally {
      await database.admin('DROP TRIGGER IF EXISTS fault_slow_log ON access_log');
      agent.destroy();
      gw.child.kill('SIGKILL');
    }
  }, 90_000);

  it('exits (status 1) within SHUTDOWN_TIMEOUT_MS when a request outlasts it', async () => {
    const gw = await startGateway({ SHUTDOWN_TIMEOUT_MS: '1000', DB_STATEMENT_TIMEOUT_MS: '30000' });
    const agent = new Agent({ keepAlive: true });
    try {
      await database.admin(`CREATE OR REPLACE FUNCTION fault_slow_log() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(20); RETURN NEW; END $$`);
      await database.admin('CREATE TRIGGER fault_slow_log BEFORE INSERT ON access_log FOR EACH ROW EXECUTE FUNCTION fault_slow_log()');
      const logBefore = await count('access_log');
      const slow = get(gw.port, `/v1/subjects/${subject.id}`, agent, clinician.token).catch((err: Error) => err);
      await new Promise((r) => setTimeout(r, 500));
      const stoppedAt = Date.now();
      gw.child.kill('SIGTERM');
      expect(await gw.exited).toBe(1);
      expect(Date.now() - stoppedAt).toBeLessThan(GENEROUS_MS);
      // The cut request disclosed nothing: its connection was closed, or it got no data.
      const res = await slow;
      if (!(res instanceof Error)) expect(res.body).not.toContain(subject.familyName);
      // Its transaction never committed: end the backend still sleeping in the trigger, then count.
      await database.admin(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1 AND datname = current_database() AND wait_event = 'PgSleep'`,
        [APP_LOGIN_ROLE],
      );
      await database.admin('DROP TRIGGER IF EXISTS fault_slow_log ON access_log');
      expect(await count('access_log')).toBe(logBefore);
    } finally {
      await database.admin('DROP TRIGGER IF EXISTS fault_slow_log ON access_log');
      agent.destroy();
      gw.child.kill('SIGKILL');
    }
  }, 90_000);
});
