// `npm run bench:workers [-- SECONDS]`: throughput of the compiled gateway (`node
// dist/src/cluster.js`) with WEB_CONCURRENCY=1 and =2 side by side, on one PostgreSQL database
// (BENCH_DATABASE_URL, a superuser URL; default the local server) seeded with the demo tenancy.
// autocannon drives 20 connections at two routes: a records clerk's read of a person (token
// check, policy decision, access-log entry in the read's transaction) and /healthz (no
// database). The machine's cores bound the gain; run `npm run build` first.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import autocannon from 'autocannon';
import pg from 'pg';

const SECONDS = Number(process.argv[2] ?? 10);
const PORT = Number(process.env.BENCH_PORT ?? 3105);
const BASE = `http://127.0.0.1:${PORT}`;
const server = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

async function onServer(statement: string): Promise<void> {
  const c = new pg.Client({ connectionString: server });
  await c.connect();
  await c.query(statement).finally(() => c.end());
}

async function start(workers: number, env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['dist/src/cluster.js'], { env: { ...env, WEB_CONCURRENCY: String(workers) }, stdio: 'ignore' });
  for (;;) {
    if (child.exitCode !== null) throw new Error(`gateway exited with ${child.exitCode}`);
    try {
      // Every worker listens once the primary has started them all; give the last one a moment.
      if ((await fetch(`${BASE}/healthz`)).ok) return await new Promise((r) => setTimeout(() => r(child), 1500 * workers));
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function run(path: string, token?: string) {
  const result = await autocannon({
    url: `${BASE}${path}`,
    connections: 20,
    duration: SECONDS,
    headers: token ? { Authorization: `Bearer ${token}` } : {},
  });
  if (result.non2xx > 0) throw new Error(`${path}: ${result.non2xx} answers were not 2xx`);
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99 };
}

const name = `tiergate_bench_${randomBytes(4).toString('hex')}`;
await onServer(`CREATE DATABASE ${name}`);
try {
  const url = new URL(server);
  url.pathname = `/${name}`;
  const env = { ...process.env, PORT: String(PORT), DATABASE_URL: url.toString(), LOG_LEVEL: 'silent', NODE_ENV: 'development' };
  const rows: string[] = [];
  for (const workers of [1, 2]) {
    const child = await start(workers, env);
    try {
      const login = await fetch(`${BASE}/oauth/token`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ grant_type: 'password', username: 'clerk@metro-police', password: 'tiergate-demo' }),
      });
      const { access_token: token } = (await login.json()) as { access_token: string };
      const search = await fetch(`${BASE}/v1/subjects?name=Lovelace&dob=1985-02-03`, { headers: { Authorization: `Bearer ${token}` } });
      const { subjects } = (await search.json()) as { subjects: { id: string }[] };
      await run(`/v1/subjects/${subjects[0]!.id}`, token); // warm-up
      const read = await run(`/v1/subjects/${subjects[0]!.id}`, token);
      const health = await run('/healthz');
      rows.push(
        `WEB_CONCURRENCY=${workers}  GET /v1/subjects/:id ${read.rps.toFixed(0).padStart(6)} req/s (p50 ${read.p50} ms, p99 ${read.p99} ms)` +
          `   GET /healthz ${health.rps.toFixed(0).padStart(6)} req/s (p50 ${health.p50} ms, p99 ${health.p99} ms)`,
      );
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  }
  console.log(`${SECONDS} s per run, 20 connections, PostgreSQL, ${(await import('node:os')).availableParallelism()} cores`);
  for (const row of rows) console.log(row);
} finally {
  await onServer(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
}
