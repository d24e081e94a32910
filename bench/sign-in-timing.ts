// `npm run bench:sign-in [-- --rounds 200] [--record]`: the time of a refused sign-in
// (POST /oauth/token, grant_type=password) for each kind of account, side by side in one run, so
// that a difference between kinds (which tells an attacker which usernames exist) shows. The app
// runs in-process on PGlite with the demo tenancy and one account of each kind; every round sends
// one attempt of each kind, in a shuffled order, one at a time, after clearing the throttle (not
// timed, so the lock never answers instead). The first rounds warm up and are not counted.
// Prints median and p90 per kind and, with --record, appends the table to bench/RESULTS.md.
import { execFileSync } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg, totalmem } from 'node:os';
import { eq, sql } from 'drizzle-orm';
import { exportJWK, generateKeyPair } from 'jose';
import { createApp } from '../src/app.js';
import { buildDeps } from '../src/deps.js';
import { registerClient, serviceUsername } from '../src/auth/clients.js';
import { KeyStore, rotateSigningKey } from '../src/auth/keys.js';
import { hashPassword } from '../src/auth/passwords.js';
import { loadPolicy } from '../src/authz/policy.js';
import { loadConfig } from '../src/config/index.js';
import { openPglite } from '../src/db/client.js';
import { migrate } from '../src/db/migrate.js';
import { agencies, users } from '../src/db/schema/index.js';
import { seedDemo } from '../src/db/seed/demo.js';
import { createLogger } from '../src/logger.js';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const ROUNDS = arg('rounds', 200);
const WARMUP = arg('warmup', 10);
const WRONG = 'not the password at all';

const config = loadConfig({ NODE_ENV: 'development', LOG_LEVEL: 'silent' });
const database = await openPglite();
await migrate(database);
const { db } = database;
await rotateSigningKey(db, config.keyEncryptionKey, config.TOKEN_TTL_SECONDS, 0);
await seedDemo(db, config.DEMO_PASSWORD);
const keys = new KeyStore(db, config.keyEncryptionKey);
await keys.load();
const deps = buildDeps(config, db, createLogger('silent'), keys, loadPolicy());
const server = createServer(createApp(deps)).listen(0, '127.0.0.1');
await new Promise((resolve) => server.once('listening', resolve));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/oauth/token`;

// One account of each kind, as the gateway makes them.
const [police] = await db.select().from(agencies).where(eq(agencies.slug, 'metro-police'));
const [harbor] = await db.select().from(agencies).where(eq(agencies.slug, 'harbor-mh'));
// An invited user (the admin service's unusable placeholder until enrolment), approved and pending.
await db.insert(users).values([
  { username: 'invited@metro-police', agencyId: police!.id, role: 'officer', passwordHash: '!' },
  { username: 'pending@harbor-mh', agencyId: harbor!.id, role: 'clinician', passwordHash: '!', approval: 'pending' },
]);
const { publicKey } = await generateKeyPair('ES256', { extractable: true });
await registerClient(db, { clientId: 'cad', agencyId: police!.id, role: 'officer', jwks: { keys: [{ ...(await exportJWK(publicKey)), kid: 'k1' }] } });
await db.insert(users).values({
  username: 'disabled@metro-police',
  agencyId: police!.id,
  role: 'officer',
  passwordHash: await hashPassword(config.DEMO_PASSWORD),
  disabledAt: new Date(),
});

const KINDS: { kind: string; username: string; password: string }[] = [
  { kind: 'unknown username', username: 'nobody@metro-police', password: WRONG },
  { kind: 'invited user (no password yet)', username: 'invited@metro-police', password: WRONG },
  { kind: 'pending approval', username: 'pending@harbor-mh', password: WRONG },
  { kind: 'client service user', username: serviceUsername('cad'), password: WRONG },
  { kind: 'disabled user (right password)', username: 'disabled@metro-police', password: config.DEMO_PASSWORD },
  { kind: 'wrong password', username: 'officer@metro-police', password: WRONG },
];

async function attempt(username: string, password: string): Promise<number> {
  await db.execute(sql`delete from login_throttle`);
  const started = performance.now();
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ grant_type: 'password', username, password }),
  });
  await res.text();
  const ms = performance.now() - started;
  if (res.status !== 400) throw new Error(`${username}: expected 400, got ${res.status}`);
  return ms;
}

const times = new Map(KINDS.map((k) => [k.kind, [] as number[]]));
const loadBefore = loadavg();
for (let round = 0; round < WARMUP + ROUNDS; round++) {
  const order = [...KINDS].sort(() => Math.random() - 0.5);
  for (const k of order) {
    const ms = await attempt(k.username, k.password);
    if (round >= WARMUP) times.get(k.kind)!.push(ms);
  }
}
const loadAfter = loadavg();
server.close();
await database.close();

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;
const baseline = quantile(times.get(KINDS[0]!.kind)!, 0.5);
let commit = 'unknown';
try {
  commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
} catch {
  /* not a checkout */
}
const rows = KINDS.map(({ kind }) => {
  const xs = times.get(kind)!;
  const p50 = quantile(xs, 0.5);
  return `| ${kind} | ${p50.toFixed(1)} ms | ${quantile(xs, 0.9).toFixed(1)} ms | ${(p50 / baseline).toFixed(2)} |`;
});
const fmt = (l: number[]) => l.map((x) => x.toFixed(2)).join(' ');
const section = [
  `## ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC: refused sign-in time by kind of account (\`npm run bench:sign-in\`)`,
  '',
  `${ROUNDS} rounds (after ${WARMUP} warm-up), one attempt per kind per round in a shuffled order, POST /oauth/token in-process on PGlite; ${cpus().length} x ${cpus()[0]?.model.trim()}, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}, commit ${commit}; load average before ${fmt(loadBefore)}, after ${fmt(loadAfter)}.`,
  '',
  '| account | median | p90 | median / unknown |',
  '|---|---|---|---|',
  ...rows,
  '',
].join('\n');
console.log(section);
if (process.argv.includes('--record')) appendFileSync(new URL('./RESULTS.md', import.meta.url), `\n${section}`);
