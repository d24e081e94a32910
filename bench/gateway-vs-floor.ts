// `npm run bench`: the gateway against its floor, side by side in one run on one PostgreSQL.
// The floor (bench/floor-server.ts) is plain express + pg doing one indexed read (or insert) and
// one durable access-log insert in one transaction; the gateway (src/main.ts, as `npm start`
// runs it, on a least-privilege role) does that plus token, principal, policy, validation and
// logging. autocannon drives each scenario at each concurrency, gateway then floor, and the
// ratios go to the console and to bench/RESULTS.md with the machine's details. The machine is
// shared and noisy: compare the ratios of one run, not seconds across runs.
//
//   npm run bench                          all scenarios at c=1,16,64, 10 s each
//   npm run bench -- --c 16 --seconds 5    one concurrency, shorter
//   npm run bench -- --only risk-flags,record --label "prepared statements"
//   BENCH_CPU_PROF=dir npm run bench       also writes a CPU profile of the gateway to dir
//   npm run bench -- --baseline ../other   also runs the gateway of another checkout (a git
//                                          worktree with node_modules) in the same rounds, to
//                                          say what a change bought, side by side
// Needs BENCH_DATABASE_URL (a superuser URL; default the local server); creates and drops its
// own database. Ports: BENCH_PORT (gateway, 3104) and BENCH_FLOOR_PORT (3114).
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { machine, scratchDatabase, startGateway, startProcess } from './harness.js';

const { values: args } = parseArgs({
  options: {
    c: { type: 'string', default: '1,16,64' },
    seconds: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '2' },
    only: { type: 'string' },
    label: { type: 'string', default: '' },
    'no-record': { type: 'boolean', default: false },
    baseline: { type: 'string' },
  },
});
const concurrencies = args.c.split(',').map(Number);
const seconds = Number(args.seconds);
// Each scenario alternates gateway and floor `rounds` times (seconds/rounds each), so load from
// other users of the machine falls on both alike.
const rounds = Math.max(1, Number(args.rounds));
const GATEWAY_PORT = Number(process.env.BENCH_PORT ?? 3104);
const FLOOR_PORT = Number(process.env.BENCH_FLOOR_PORT ?? 3114);
const BASELINE_PORT = GATEWAY_PORT + 1;
const RESULTS = new URL('./RESULTS.md', import.meta.url);

interface Scenario {
  name: string;
  label: string;
  user: string;
  method: 'GET' | 'POST';
  /** The gateway's path; `{ada}` and `{edsger}` stand for the person's id in the database served. */
  gateway: string;
  floor: string;
  body?: string;
  status: number;
}

const db = await scratchDatabase();
// The baseline gateway gets a database of its own: two gateways on one database would each seal
// the other's entries, and the sealing would count against whichever won the sealer's lock.
const baselineDb = args.baseline ? await scratchDatabase() : undefined;
// A person with a long record (LONG_ENTRIES entries of Harbor MH, one in ten intermediate, and a
// consent for the police), for the `record-long` scenario only: it says what a read costs when
// most of a record is withheld. Not in the default run.
const LONG_ENTRIES = 300;
const wantsLong = args.only?.split(',').includes('record-long') ?? false;
async function longRecordOf(target: typeof db): Promise<string> {
  if (!wantsLong) return '';
  const pool = (target.owner.db as unknown as { $client: { query(q: string, v?: unknown[]): Promise<{ rows: { id: string }[] }> } }).$client;
  const harbor = `(SELECT id FROM agencies WHERE slug = 'harbor-mh')`;
  const author = `(SELECT id FROM users WHERE username = 'clinician@harbor-mh')`;
  const [person] = (
    await pool.query(
      `INSERT INTO subjects (given_name, family_name, birth_date, sex, agency_id, created_by)
       VALUES ('Longa', 'Record', '1970-07-07', 'female', ${harbor}, ${author}) RETURNING id`,
    )
  ).rows;
  await pool.query(
    `INSERT INTO clinical_entries (subject_id, kind, tier, sensitivity, summary, content, agency_id, created_by)
     SELECT $1, 'note', CASE WHEN g % 10 = 0 THEN 'intermediate' ELSE 'full' END, '{}', 'note ' || g, jsonb_build_object('text', repeat('x', 200)), ${harbor}, ${author}
       FROM generate_series(1, $2::int) g`,
    [person!.id, LONG_ENTRIES],
  );
  await pool.query(
    `INSERT INTO consents (subject_id, recipients, recipient_agency_ids, recipient_kinds, tiers, sensitive_categories, purpose, valid_from, evidence, agency_id, recorded_by)
     VALUES ($1, '[{"agencyKind":"police"}]', '{}', '{police}', '{intermediate}', '{}', 'crisis-response', now() - interval '1 day', '{"form":"written"}', ${harbor}, ${author})`,
    [person!.id],
  );
  return person!.id;
}
const longIds = new Map([[db, await longRecordOf(db)], ...(baselineDb ? [[baselineDb, await longRecordOf(baselineDb)] as const] : [])]);
const pathIn = (target: typeof db, path: string) =>
  path
    .replace('{ada}', target.ids.ada)
    .replace('{edsger}', target.ids.edsger)
    .replace('{long}', longIds.get(target) ?? '');
const consentBody = JSON.stringify({
  recipients: [{ agency: 'metro-police' }],
  tiers: ['intermediate'],
  purpose: 'crisis-response',
  evidence: { form: 'written', reference: 'bench form' },
});
const scenarios: Scenario[] = [
  {
    name: 'risk-flags',
    label: 'clerk: GET /v1/subjects/:id/risk-flags',
    user: 'clerk@metro-police',
    method: 'GET',
    gateway: '/v1/subjects/{ada}/risk-flags',
    floor: `/floor/risk-flags/${db.ids.ada}`,
    status: 200,
  },
  {
    name: 'record',
    label: 'doctor: GET /v1/subjects/:id (consent + case)',
    user: 'doctor@city-hospital',
    method: 'GET',
    gateway: '/v1/subjects/{ada}',
    floor: `/floor/subjects/${db.ids.ada}`,
    status: 200,
  },
  {
    name: 'record-long',
    label: `clerk: GET /v1/subjects/:id (${LONG_ENTRIES} entries, a tenth released by consent)`,
    user: 'clerk@metro-police',
    method: 'GET',
    gateway: '/v1/subjects/{long}',
    floor: `/floor/subjects/${db.ids.ada}`,
    status: 200,
  },
  {
    name: 'search',
    label: 'clerk: GET /v1/subjects?name=&dob=',
    user: 'clerk@metro-police',
    method: 'GET',
    gateway: '/v1/subjects?name=Lovelace&dob=1985-02-03',
    floor: '/floor/search?name=Lovelace&dob=1985-02-03',
    status: 200,
  },
  {
    // Consents for Edsger, so the record read of Ada keeps the same number of consents.
    name: 'consent-write',
    label: 'doctor: POST /v1/subjects/:id/consents',
    user: 'doctor@city-hospital',
    method: 'POST',
    gateway: '/v1/subjects/{edsger}/consents',
    floor: `/floor/subjects/${db.ids.edsger}/consents`,
    body: consentBody,
    status: 201,
  },
].filter((s) => (args.only ? args.only.split(',').includes(s.name) : s.name !== 'record-long')) as Scenario[];

interface Measured {
  rps: number;
  p50: number;
  p99: number;
  bad: number;
  /** CPU time (user + system) the server process spent per answered request, in µs. */
  cpuUs: number;
}

// CPU time of a process so far, in µs (Linux /proc; clock ticks are 10 ms). Robust to other
// users of the machine in a way that throughput is not: it counts the work, not the waiting.
function cpuOf(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  } catch {
    return NaN;
  }
}

async function drive(url: string, s: Scenario, connections: number, headers: Record<string, string>, duration: number, pid?: number): Promise<Measured> {
  const cpu0 = cpuOf(pid);
  const r = await autocannon({
    url,
    method: s.method,
    connections,
    duration,
    headers: { ...headers, ...(s.body ? { 'content-type': 'application/json' } : {}) },
    body: s.body,
  });
  // Anything but the expected status (or a socket error) counts against the run.
  const good = (r.statusCodeStats as Record<string, { count: number }>)[String(s.status)]?.count ?? 0;
  return {
    rps: good / duration,
    p50: r.latency.p50,
    p99: r.latency.p99,
    bad: r.requests.total - good + r.errors + r.timeouts,
    cpuUs: (cpuOf(pid) - cpu0) / Math.max(1, r.requests.total),
  };
}

/** Rounds together: throughput over the whole time; latencies are the mean of the rounds' percentiles. */
function combine(ms: Measured[]): Measured {
  const mean = (k: 'rps' | 'p50' | 'p99' | 'cpuUs') => ms.reduce((a, m) => a + m[k], 0) / ms.length;
  return { rps: mean('rps'), p50: Math.round(mean('p50')), p99: Math.round(mean('p99')), bad: ms.reduce((a, m) => a + m.bad, 0), cpuUs: mean('cpuUs') };
}

const profileDir = process.env.BENCH_CPU_PROF;
const gateway = await startGateway(db, GATEWAY_PORT, { SEAL_INTERVAL_MS: '1000' }, profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []);
const floor = await startProcess('bench/floor-server.ts', { FLOOR_DATABASE_URL: db.appUrl, FLOOR_PORT: String(FLOOR_PORT) }, /floor listening/);
const baseline = baselineDb ? await startGateway(baselineDb, BASELINE_PORT, { SEAL_INTERVAL_MS: '1000' }, [], args.baseline) : undefined;
const loadBefore = loadavg();
const rows: { s: Scenario; c: number; g: Measured; f: Measured; b?: Measured }[] = [];
try {
  for (const c of concurrencies) {
    for (const s of scenarios) {
      // A fresh token per scenario: a run outlasts nothing, whatever its length.
      const headers = { authorization: `Bearer ${await db.token(s.user)}` };
      const baselineHeaders: Record<string, string> = baselineDb ? { authorization: `Bearer ${await baselineDb.token(s.user)}` } : {};
      const gatewayUrl = `http://127.0.0.1:${GATEWAY_PORT}${pathIn(db, s.gateway)}`;
      const baselineUrl = baselineDb ? `http://127.0.0.1:${BASELINE_PORT}${pathIn(baselineDb, s.gateway)}` : '';
      // Warm both (JIT, pools, caches), then measure the gateway and the floor back to back.
      await drive(gatewayUrl, s, c, headers, 1);
      await drive(`http://127.0.0.1:${FLOOR_PORT}${s.floor}`, s, c, {}, 1);
      if (baseline) await drive(baselineUrl, s, c, baselineHeaders, 1);
      const gs: Measured[] = [];
      const fs: Measured[] = [];
      const bs: Measured[] = [];
      for (let r = 0; r < rounds; r++) {
        gs.push(await drive(gatewayUrl, s, c, headers, seconds / rounds, gateway.process.pid));
        fs.push(await drive(`http://127.0.0.1:${FLOOR_PORT}${s.floor}`, s, c, {}, seconds / rounds, floor.process.pid));
        if (baseline) bs.push(await drive(baselineUrl, s, c, baselineHeaders, seconds / rounds, baseline.process.pid));
      }
      const g = combine(gs);
      const f = combine(fs);
      const b = baseline ? combine(bs) : undefined;
      rows.push({ s, c, g, f, b });
      console.log(
        `c=${String(c).padEnd(3)} ${s.name.padEnd(14)} gateway ${g.rps.toFixed(0).padStart(5)} req/s p50 ${g.p50} ms p99 ${g.p99} ms${g.bad ? ` (${g.bad} bad)` : ''} | ` +
          `floor ${f.rps.toFixed(0).padStart(5)} req/s p50 ${f.p50} ms p99 ${f.p99} ms${f.bad ? ` (${f.bad} bad)` : ''} | ratio ${(g.rps / f.rps).toFixed(2)}, p99 x${(g.p99 / Math.max(f.p99, 1)).toFixed(1)}, cpu/req ${g.cpuUs.toFixed(0)} vs ${f.cpuUs.toFixed(0)} µs` +
          (b ? ` | baseline ${b.rps.toFixed(0)} req/s (ratio ${(b.rps / f.rps).toFixed(2)}), cpu/req ${b.cpuUs.toFixed(0)} µs` : ''),
      );
    }
  }
} finally {
  await gateway.stop();
  await floor.stop();
  await baseline?.stop();
}
const details = await machine(db.owner);
await db.drop();
await baselineDb?.drop();

const table = [
  '| c | scenario | gateway req/s | p50 | p99 | floor req/s | p50 | p99 | req/s ratio | p99 ratio | CPU µs/req gateway / floor |' +
    (baseline ? ' baseline req/s | baseline ratio | baseline p99 ratio | baseline CPU µs/req |' : ''),
  '|---|---|---|---|---|---|---|---|---|---|---|' + (baseline ? '---|---|---|---|' : ''),
  ...rows.map(
    ({ s, c, g, f, b }) =>
      `| ${c} | ${s.label} | ${g.rps.toFixed(0)} | ${g.p50} ms | ${g.p99} ms | ${f.rps.toFixed(0)} | ${f.p50} ms | ${f.p99} ms | **${(g.rps / f.rps).toFixed(2)}** | ${(g.p99 / Math.max(f.p99, 1)).toFixed(1)}x | ${g.cpuUs.toFixed(0)} / ${f.cpuUs.toFixed(0)} |` +
      (b ? ` ${b.rps.toFixed(0)} | ${(b.rps / f.rps).toFixed(2)} | ${(b.p99 / Math.max(f.p99, 1)).toFixed(1)}x | ${b.cpuUs.toFixed(0)} |` : ''),
  ),
].join('\n');
const bad = rows.reduce((n, r) => n + r.g.bad + r.f.bad, 0);
const section = [
  `## ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC${args.label ? `: ${args.label}` : ''}`,
  '',
  `${seconds} s per scenario and concurrency (gateway and floor alternating in ${rounds} rounds), autocannon; ${details.cpu}, ${details.memory}, node ${details.node}, ${details.postgres}, commit ${details.commit}${args.baseline ? ` (baseline: ${baselineCommit(args.baseline)})` : ''}; ` +
    `load average before ${loadBefore.map((l) => l.toFixed(2)).join(' ')}, after ${details.load}.${bad ? ` ${bad} responses were not the expected status.` : ''}`,
  '',
  table,
  '',
].join('\n');
console.log(`\n${section}`);
if (!args['no-record']) {
  if (!existsSync(RESULTS))
    writeFileSync(RESULTS, '# Benchmark results\n\nAppended by `npm run bench` (newest last). Ratios within one run are what count.\n\n');
  appendFileSync(RESULTS, `${section}\n`);
}

function baselineCommit(dir: string): string {
  try {
    return execFileSync('git', ['-C', dir, 'rev-parse', '--short', 'HEAD']).toString().trim();
  } catch {
    return dir;
  }
}
