// `npm run bench:startup [-- RUNS]`: start-up time and resident memory of the gateway run through
// tsx (TypeScript compiled at load, the old `npm start`) and as compiled JavaScript (`node
// dist/src/main.js`, the new one), on one PostgreSQL database (BENCH_DATABASE_URL, a superuser
// URL; default the local server), already migrated and seeded by a first start so every run
// measures the same work. Start-up: spawn until /healthz answers. RSS: the whole process tree
// (tsx runs the gateway in a child process), once idle and after 200 requests. Run `npm run
// build` first.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import pg from 'pg';

const RUNS = Number(process.argv[2] ?? 5);
const PORT = Number(process.env.BENCH_PORT ?? 3106);
const server = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

async function onServer(statement: string): Promise<void> {
  const c = new pg.Client({ connectionString: server });
  await c.connect();
  await c.query(statement).finally(() => c.end());
}

const rssKb = (pid: number): number => {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  } catch {
    return 0;
  }
};
const children = (pid: number): number[] =>
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
const treeRssKb = (pid: number): number => rssKb(pid) + children(pid).reduce((sum, c) => sum + treeRssKb(c), 0);

async function waitHealthy(child: ChildProcess): Promise<void> {
  for (;;) {
    if (child.exitCode !== null) throw new Error(`gateway exited with ${child.exitCode}`);
    try {
      if ((await fetch(`http://127.0.0.1:${PORT}/healthz`)).ok) return;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function once(command: string[], env: NodeJS.ProcessEnv) {
  const started = performance.now();
  const child = spawn(command[0]!, command.slice(1), { env, stdio: 'ignore' });
  try {
    await waitHealthy(child);
    const startMs = performance.now() - started;
    await new Promise((r) => setTimeout(r, 1000));
    const idleKb = treeRssKb(child.pid!);
    for (let i = 0; i < 200; i++) await (await fetch(`http://127.0.0.1:${PORT}/readyz`)).text();
    return { startMs, idleKb, loadedKb: treeRssKb(child.pid!) };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const name = `tiergate_bench_${randomBytes(4).toString('hex')}`;
await onServer(`CREATE DATABASE ${name}`);
try {
  const url = new URL(server);
  url.pathname = `/${name}`;
  const env = { ...process.env, PORT: String(PORT), DATABASE_URL: url.toString(), LOG_LEVEL: 'silent', NODE_ENV: 'development' };
  const variants: [string, string[]][] = [
    ['tsx src/main.ts', ['node_modules/.bin/tsx', 'src/main.ts']],
    ['node dist/src/main.js', [process.execPath, 'dist/src/main.js']],
  ];
  await once(variants[1]![1], env); // first start: migrations, key, demo seed
  console.log(`${RUNS} starts each on PostgreSQL (medians)`);
  for (const [label, command] of variants) {
    const runs = [];
    for (let i = 0; i < RUNS; i++) runs.push(await once(command, env));
    console.log(
      `${label.padEnd(24)} start ${median(runs.map((r) => r.startMs)).toFixed(0)} ms, RSS idle ${(median(runs.map((r) => r.idleKb)) / 1024).toFixed(0)} MB, after 200 requests ${(median(runs.map((r) => r.loadedKb)) / 1024).toFixed(0)} MB`,
    );
  }
} finally {
  await onServer(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
}
