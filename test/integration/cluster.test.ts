import { readFileSync, readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_ENV } from '../helpers/app.js';
import { runScript } from '../helpers/cli.js';
import { openTestDatabase, type TestDatabase } from '../helpers/db.js';
import { startInstance, type Instance } from '../helpers/instances.js';

// WEB_CONCURRENCY: src/cluster.ts (the entry of `npm start`) runs N workers on one port with
// node:cluster, restarts one that dies, aggregates their metrics on METRICS_PORT and drains them
// all on SIGTERM. PostgreSQL only (PGlite admits one process, and the primary refuses it).

const PORT = 3105;
const METRICS_PORT = 3106;

const workersOf = (pid: number): number[] =>
  readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1]!.split(' ')[1] === String(pid);
      } catch {
        return false;
      }
    })
    .map(Number);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.runIf(process.env.TEST_DRIVER === 'pg')('WEB_CONCURRENCY workers', () => {
  let database: TestDatabase;
  let gateway: Instance;

  beforeAll(async () => {
    database = await openTestDatabase();
    gateway = await startInstance(
      'cluster',
      PORT,
      { ...TEST_ENV, DATABASE_URL: database.ownerUrl!, WEB_CONCURRENCY: '2', METRICS_PORT: String(METRICS_PORT), LOG_LEVEL: 'warn' },
      'src/cluster.ts',
    );
  }, 120_000);
  afterAll(async () => {
    await gateway?.stop();
    await database?.close();
  });

  it('runs two workers on one port and adds up their metrics', async () => {
    // Started one after the other: the first one migrated and created the key alone.
    await expect.poll(() => workersOf(gateway.process.pid!).length, { timeout: 60_000 }).toBe(2);
    // The primary serves the metrics port once every worker listens.
    const scrape = () =>
      fetch(`http://127.0.0.1:${METRICS_PORT}/metrics`).then(
        (r) => r.text(),
        () => '',
      );
    const healthz = (text: string) => Number(/^tiergate_http_requests_total\{route="\/healthz",method="GET",status="200"\} (\d+)$/m.exec(text)?.[1] ?? 0);
    await expect.poll(scrape, { timeout: 60_000 }).toMatch(/tiergate_http_requests_total/);
    const before = healthz(await scrape());
    for (let k = 0; k < 40; k++) expect((await fetch(`http://127.0.0.1:${PORT}/healthz`)).status).toBe(200);
    const text = await scrape();
    expect(healthz(text) - before).toBe(40);
    expect(text).toMatch(/^tiergate_seal_queue_length \d+$/m);
    expect((await database.admin('SELECT count(*)::int AS n FROM signing_keys')).rows[0]!.n).toBe(1);
  }, 150_000);

  it('replaces a worker that dies', async () => {
    const [victim] = workersOf(gateway.process.pid!);
    process.kill(victim!, 'SIGKILL');
    await expect.poll(() => workersOf(gateway.process.pid!).filter((p) => p !== victim).length, { timeout: 60_000, interval: 200 }).toBe(2);
    await sleep(500);
    expect((await fetch(`http://127.0.0.1:${PORT}/healthz`)).status).toBe(200);
  }, 90_000);

  it('drains every worker on SIGTERM and exits 0', async () => {
    const workers = workersOf(gateway.process.pid!);
    expect(await gateway.stop()).toBe(0);
    for (const pid of workers) expect(() => process.kill(pid, 0)).toThrow();
  }, 30_000);
});

describe('WEB_CONCURRENCY without DATABASE_URL', () => {
  it('is refused: embedded PGlite admits one process', async () => {
    const run = await runScript('src/cluster.ts', [], { WEB_CONCURRENCY: '2', DATA_DIR: '/nonexistent/tiergate' }, 30_000);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('WEB_CONCURRENCY > 1 needs DATABASE_URL');
  });
});
