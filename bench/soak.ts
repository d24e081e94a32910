// `npm run soak [-- --seconds 60 --c 64]`: mixed traffic against the gateway (src/main.ts as its
// own process, on a scratch PostgreSQL database): record reads, risk-flag reads, searches,
// consent writes and denials (a forbidden write, an invalid token, an unknown person). Passes
// when no response is a 5xx, every answered request left exactly one access-log entry, and after
// the gateway drains (SIGTERM) the exported log verifies with nothing left unsealed.
// Each client finishes the request it has in flight when time is up, so every request is answered.
import { Agent, request } from 'node:http';
import { parseArgs } from 'node:util';
import type pg from 'pg';
import { exportLog } from '../src/audit/export.js';
import { verifyLog } from '../src/audit/verify.js';
import { scratchDatabase, startGateway } from './harness.js';

const { values: args } = parseArgs({ options: { seconds: { type: 'string', default: '60' }, c: { type: 'string', default: '64' } } });
const seconds = Number(args.seconds);
const concurrency = Number(args.c);
const PORT = Number(process.env.BENCH_PORT ?? 3104);

const db = await scratchDatabase();
const clerk = await db.token('clerk@metro-police');
const doctor = await db.token('doctor@city-hospital');
const forged = `${clerk.slice(0, clerk.lastIndexOf('.') + 1)}${'A'.repeat(86)}`;
const consent = JSON.stringify({
  recipients: [{ agency: 'metro-police' }],
  tiers: ['intermediate'],
  purpose: 'crisis-response',
  evidence: { form: 'written', reference: 'soak form' },
});
const mix: { name: string; method: string; path: string; token: string; body?: string }[] = [
  { name: 'record read', method: 'GET', path: `/v1/subjects/${db.ids.ada}`, token: doctor },
  { name: 'risk flags', method: 'GET', path: `/v1/subjects/${db.ids.ada}/risk-flags`, token: clerk },
  { name: 'search', method: 'GET', path: '/v1/subjects?name=Lovelace&dob=1985-02-03', token: clerk },
  { name: 'record read', method: 'GET', path: `/v1/subjects/${db.ids.grace}`, token: doctor },
  { name: 'consent write', method: 'POST', path: `/v1/subjects/${db.ids.edsger}/consents`, token: doctor, body: consent },
  { name: 'denial: forbidden write', method: 'POST', path: `/v1/subjects/${db.ids.edsger}/consents`, token: clerk, body: consent },
  { name: 'denial: invalid token', method: 'GET', path: `/v1/subjects/${db.ids.ada}`, token: forged },
  { name: 'denial: unknown person', method: 'GET', path: '/v1/subjects/00000000-0000-4000-8000-000000000000/risk-flags', token: clerk },
];

const owner = (db.owner.db as unknown as { $client: pg.Pool }).$client;
const entries = async () => Number((await owner.query<{ n: string }>('SELECT count(*) AS n FROM access_log')).rows[0]!.n);

const gateway = await startGateway(db, PORT, { SEAL_INTERVAL_MS: '1000' });
const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
const statuses = new Map<string, Map<number, number>>();
let errors = 0;
const send = (r: (typeof mix)[number]) =>
  new Promise<number>((resolve) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: PORT,
        method: r.method,
        path: r.path,
        agent,
        headers: { authorization: `Bearer ${r.token}`, ...(r.body ? { 'content-type': 'application/json' } : {}) },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', () => resolve(0));
    req.end(r.body);
  });

const before = await entries();
const started = Date.now();
const until = started + seconds * 1000;
let answered = 0;
await Promise.all(
  Array.from({ length: concurrency }, async (_, i) => {
    for (let n = i; Date.now() < until; n++) {
      const r = mix[n % mix.length]!;
      const status = await send(r);
      if (status === 0) {
        errors++;
        continue;
      }
      answered++;
      const byStatus = statuses.get(r.name) ?? new Map<number, number>();
      byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
      statuses.set(r.name, byStatus);
    }
  }),
);
const elapsed = (Date.now() - started) / 1000;
agent.destroy();
const logged = (await entries()) - before;
// Drain: the gateway seals what is left before it exits.
const exitCode = await gateway.stop();
const report = await verifyLog(await exportLog(db.owner.db));
await db.drop();

let fivexx = 0;
console.log(`soak: ${seconds} s at c=${concurrency}, ${answered} requests answered in ${elapsed.toFixed(1)} s (${(answered / elapsed).toFixed(0)} req/s)`);
for (const [name, byStatus] of statuses) {
  for (const [status, n] of byStatus) if (status >= 500) fivexx += n;
  console.log(`  ${name.padEnd(24)} ${[...byStatus.entries()].map(([s, n]) => `${s} x${n}`).join(', ')}`);
}
const checks = {
  'no 5xx': fivexx === 0,
  'no connection errors': errors === 0,
  'log entries = requests answered': logged === answered,
  'gateway drained (exit 0)': exitCode === 0,
  'log verifies': report.ok,
  'nothing unsealed after drain': report.pending === 0,
  'every entry sealed': report.leaves === logged,
};
console.log(`  log entries written ${logged}, answered ${answered}; verify: ${JSON.stringify(report)}`);
for (const [check, ok] of Object.entries(checks)) console.log(`  ${ok ? 'ok  ' : 'FAIL'} ${check}`);
process.exit(Object.values(checks).every(Boolean) ? 0 : 1);
