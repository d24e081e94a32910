// `npm run bench:fill-log [-- 10000000]`: the access log at scale. Fills a scratch PostgreSQL
// database with N realistic entries (reads, risk-flag reads, searches naming matches, consent
// writes, denials; 2,000 people, 200 users in four agencies, spread over the last six months,
// in monthly partitions) with INSERT ... SELECT generate_series inside PostgreSQL, a million at a
// time; seals them all respecting the seal design (leaf i = the i-th entry in seq order, hashed
// by the gateway's canonical form, streamed into audit_seals with COPY) and signs one checkpoint
// over the tree, so the filled log is one the gateway and the verifier accept. Then, at that
// size, through HTTP with a real compliance token: the accounting of disclosures for one person
// and filtered event searches (p50/p99 over many people and filters), and the gateway's own
// sealer on a fresh backlog (entries/s, to compare with the peak request rate of `npm run bench`).
// Needs BENCH_DATABASE_URL (superuser; default the local server); creates and drops its database.
// `--keep` leaves the database for inspection and prints its URL; `--url OWNER_URL` skips the
// fill and measures the queries and the sealer on a database filled (and kept) before.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { asc, gt } from 'drizzle-orm';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { createApp } from '../src/app.js';
import { buildDeps } from '../src/deps.js';
import { entryLeafHash, sealedColumns } from '../src/audit/canonical.js';
import { extendFrontier, type Frontier } from '../src/audit/merkle.js';
import { sealPending, signCheckpoint } from '../src/audit/seal.js';
import { KeyStore } from '../src/auth/keys.js';
import { loadPolicy } from '../src/authz/policy.js';
import { openPostgres } from '../src/db/client.js';
import { accessLog, auditCheckpoints } from '../src/db/schema/index.js';
import { createLogger } from '../src/logger.js';
import { config, scratchDatabase } from './harness.js';

const { values: args, positionals } = parseArgs({
  options: { keep: { type: 'boolean', default: false }, url: { type: 'string' } },
  allowPositionals: true,
});
const N = Number(positionals[0] ?? 10_000_000);
const CHUNK = 1_000_000;
const PAGE = 50_000;
const MONTHS = 6;
// About 50 entries per person, as a six-month slice of a large region would hold.
const PEOPLE = Math.max(2_000, Math.round(N / 200));
const USERS = 200;

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const db = await scratchDatabase(args.url);
const pool = (db.owner.db as unknown as { $client: pg.Pool }).$client;
const q = async <R extends pg.QueryResultRow>(text: string, values: unknown[] = []) => (await pool.query<R>(text, values)).rows;

const keys = new KeyStore(db.owner.db, config.keyEncryptionKey);
await keys.load();
let sealed = Number((await q<{ n: string }>('SELECT count(*) AS n FROM audit_seals'))[0]!.n);
if (!args.url) sealed = await fillAndSeal();
console.log(
  `log: ${Number((await q<{ n: string }>('SELECT count(*) AS n FROM access_log'))[0]!.n).toLocaleString('en')} entries, ${sealed.toLocaleString('en')} sealed`,
);

async function fillAndSeal(): Promise<number> {
  // Reference data: people and users the entries point at (ids only; the log holds no content).
  await q(
    `INSERT INTO users (username, agency_id, role, password_hash)
   SELECT 'user' || i || '@' || a.slug, a.id, CASE a.kind WHEN 'police' THEN 'officer' ELSE 'clinician' END, '!'
     FROM generate_series(1, $1::int) i
     JOIN (SELECT id, slug, kind, row_number() OVER (ORDER BY slug) - 1 AS n FROM agencies WHERE kind <> 'gateway') a ON a.n = i % 3`,
    [USERS],
  );
  const owner = (await q<{ id: string; agency_id: string }>(`SELECT id, agency_id FROM users WHERE username = 'clinician@harbor-mh'`))[0]!;
  await q(
    `INSERT INTO subjects (given_name, family_name, birth_date, sex, agency_id, created_by)
   SELECT 'Given' || i, 'Family' || i, DATE '1950-01-01' + (i * 37 % 20000), 'unknown', $2, $3 FROM generate_series(1, $1::int) i`,
    [PEOPLE, owner.agency_id, owner.id],
  );

  // Monthly partitions back to the first month filled (the gateway only creates the months ahead).
  for (let m = 0; m <= MONTHS; m++) await q(`SELECT tiergate_create_log_partition(date_trunc('month', now() - make_interval(months => $1::int)))`, [m]);

  // Numbered copies of the people and users, so each entry picks one by a join, not an array lookup.
  await q(`CREATE UNLOGGED TABLE fill_users AS SELECT row_number() OVER (ORDER BY u.id) AS n, u.id, u.username, a.slug, u.role
           FROM users u JOIN agencies a ON a.id = u.agency_id WHERE a.kind <> 'gateway'`);
  await q(`CREATE UNLOGGED TABLE fill_subjects AS SELECT row_number() OVER (ORDER BY id) AS n, id FROM subjects`);
  await q('ANALYZE fill_users; ANALYZE fill_subjects');
  const users = Number((await q<{ n: string }>('SELECT count(*) AS n FROM fill_users'))[0]!.n);
  const nPeople = PEOPLE;
  const started = performance.now();
  let t0 = performance.now();
  for (let from = 1; from <= N; from += CHUNK) {
    const to = Math.min(N, from + CHUNK - 1);
    // Entry i: its time moves evenly from six months ago to now, so seq and at grow together.
    await q(
      `WITH g AS (SELECT i, (1 + (i::bigint * 7919) % ${users})::int AS ui, (1 + (i::bigint * 104729) % ${nPeople})::int AS si, i % 20 AS k FROM generate_series($1::int, $2::int) i)
     INSERT INTO access_log (at, request_id, actor_user_id, actor_username, actor_agency, actor_role, subject_id, action, decision, tier, basis, break_glass, reason, detail)
     SELECT now() - make_interval(months => ${MONTHS}) + (now() - (now() - make_interval(months => ${MONTHS}))) * (g.i::float8 / $3),
            md5(g.i::text),
            CASE WHEN g.k = 18 THEN NULL ELSE u.id END,
            CASE WHEN g.k = 18 THEN NULL ELSE u.username END,
            CASE WHEN g.k = 18 THEN NULL ELSE u.slug END,
            CASE WHEN g.k = 18 THEN NULL ELSE u.role END,
            CASE WHEN g.k IN (14, 15, 16, 18) THEN NULL ELSE s.id END,
            CASE WHEN g.k < 10 OR g.k = 19 THEN 'subject.read' WHEN g.k < 14 THEN 'risk-flag.read' WHEN g.k < 17 THEN 'subject.search' WHEN g.k = 17 THEN 'consent.create' ELSE 'authenticate' END,
            CASE WHEN g.k >= 18 THEN 'deny' ELSE 'allow' END,
            CASE WHEN g.k < 5 THEN 'intermediate' WHEN g.k < 10 THEN 'full' WHEN g.k < 17 THEN 'basic' ELSE NULL END,
            CASE WHEN g.k < 5 THEN '[{"tier":"basic","rule":"partner-read"},{"tier":"intermediate","rule":"consent"}]'::jsonb
                 WHEN g.k < 10 THEN '[{"tier":"basic","rule":"partner-read"},{"tier":"full","rule":"open-case-member"}]'::jsonb
                 WHEN g.k < 17 THEN '[{"tier":"basic","rule":"partner-read"}]'::jsonb ELSE '[]'::jsonb END,
            false,
            CASE WHEN g.k = 18 THEN 'token_expired' WHEN g.k = 19 THEN 'no-rule:read:Subject' ELSE NULL END,
            CASE WHEN g.k < 10 THEN jsonb_build_object('entries', jsonb_build_array(jsonb_build_object('id', md5(g.i::text)::uuid, 'kind', 'diagnosis', 'tier', 'intermediate')))
                 WHEN g.k BETWEEN 14 AND 16 THEN jsonb_build_object('matches', jsonb_build_array(s.id, s2.id))
                 WHEN g.k = 18 THEN jsonb_build_object('path', '/v1/subjects')
                 ELSE '{}'::jsonb END
       FROM g JOIN fill_users u ON u.n = g.ui JOIN fill_subjects s ON s.n = g.si JOIN fill_subjects s2 ON s2.n = 1 + g.si % ${nPeople}`,
      [from, to, N],
    );
    process.stdout.write(`\rfilled ${to.toLocaleString('en')} entries (${Math.round(to / ((performance.now() - t0) / 1000)).toLocaleString('en')}/s)   `);
  }
  const fillMs = performance.now() - t0;
  console.log(`\nfill: ${N.toLocaleString('en')} entries in ${seconds(fillMs)}`);
  await q('ANALYZE access_log');

  // Seal every entry in seq order, as the sealer would, COPYing the seals in and signing one checkpoint.
  t0 = performance.now();
  const copyClient = await pool.connect();
  let frontier: Frontier = [];
  let sealed = 0;
  try {
    let last = 0;
    for (;;) {
      const rows = await db.owner.db.select(sealedColumns).from(accessLog).where(gt(accessLog.seq, last)).orderBy(asc(accessLog.seq)).limit(PAGE);
      if (rows.length === 0) break;
      const hashes = rows.map((r) => entryLeafHash(r));
      let text = '';
      for (let i = 0; i < rows.length; i++) text += `${sealed + i}\t${rows[i]!.id}\t${hashes[i]!.toString('hex')}\n`;
      await new Promise<void>((resolve, reject) => {
        const stream = copyClient.query(copyFrom('COPY audit_seals (leaf_index, entry_id, leaf_hash) FROM STDIN'));
        stream.on('finish', resolve).on('error', reject);
        stream.end(text);
      });
      frontier = extendFrontier(frontier, hashes);
      sealed += rows.length;
      last = rows.at(-1)!.seq;
      process.stdout.write(`\rsealed ${sealed.toLocaleString('en')}   `);
    }
  } finally {
    copyClient.release();
  }
  await db.owner.db.insert(auditCheckpoints).values(await signCheckpoint(await keys.signingKey(), sealed, frontier));
  const sealMs = performance.now() - t0;
  await q('ANALYZE audit_seals');
  console.log(`\nseal (bulk, COPY): ${sealed.toLocaleString('en')} entries in ${seconds(sealMs)}; total build ${seconds(performance.now() - started)}`);
  const size = (await q<{ s: string }>(`SELECT pg_size_pretty(pg_database_size(current_database())) AS s`))[0]!.s;
  console.log(`database size ${size}`);

  return sealed;
}

// Queries at this size, through the gateway's HTTP API in process, on the gateway's role.
const app = openPostgres(db.appUrl, { max: 4 });
const deps = buildDeps(config, app.db, createLogger('silent'), keys, loadPolicy());
const server: Server = createServer(createApp(deps));
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const compliance = { authorization: `Bearer ${await db.token('compliance@gateway')}` };
const people = (await q<{ id: string }>(`SELECT id FROM subjects ORDER BY random() LIMIT 120`)).map((r) => r.id);

async function timed(label: string, urls: string[]) {
  const times: number[] = [];
  for (const [i, url] of urls.entries()) {
    const t = performance.now();
    const res = await fetch(base + url, { headers: compliance });
    const body = await res.text();
    if (res.status !== 200) throw new Error(`${label}: ${res.status} ${body.slice(0, 300)}`);
    if (i >= 10) times.push(performance.now() - t); // the first few warm the caches
  }
  times.sort((a, b) => a - b);
  const pct = (p: number) => times[Math.min(times.length - 1, Math.floor((p / 100) * times.length))]!;
  console.log(`${label.padEnd(64)} p50 ${pct(50).toFixed(1).padStart(6)} ms  p99 ${pct(99).toFixed(1).padStart(6)} ms  (${times.length} requests)`);
}
try {
  await timed(
    'accounting of disclosures, one person (6 years, JSON)',
    people.map((id) => `/v1/audit/subjects/${id}/disclosures`),
  );
  const filters = ['agency=metro-police&action=subject.read&decision=deny', 'action=authenticate&decision=deny', 'agency=harbor-mh&action=risk-flag.read'];
  await timed(
    'event search: agency + action + decision (50 newest)',
    people.map((_, i) => `/v1/audit/events?${filters[i % filters.length]}`),
  );
  await timed(
    'event search: one person (subject or search match, 50 newest)',
    people.map((id) => `/v1/audit/events?subject=${id}`),
  );
  await timed(
    'event search: one person in one month',
    people.map(
      (id) => `/v1/audit/events?subject=${id}&from=${new Date(Date.now() - 60 * 864e5).toISOString()}&to=${new Date(Date.now() - 30 * 864e5).toISOString()}`,
    ),
  );
} finally {
  await new Promise((r) => server.close(r));
  await app.close();
}

// The gateway's own sealer on a fresh backlog on top of the filled log.
const BACKLOG = 50_000;
await q(
  `WITH e AS (INSERT INTO access_log (request_id, actor_username, subject_id, action, decision, tier, basis)
              SELECT 'backlog-' || i, 'clerk@metro-police', (SELECT id FROM subjects LIMIT 1), 'risk-flag.read', 'allow', 'basic', '[{"tier":"basic","rule":"partner-read"}]'
                FROM generate_series(1, $1::int) i RETURNING id, seq)
   INSERT INTO audit_seal_queue (entry_id, seq) SELECT id, seq FROM e`,
  [BACKLOG],
);
const t0 = performance.now();
let n = 0;
for (let k; (k = await sealPending(db.owner.db)) > 0;) n += k;
const sealerMs = performance.now() - t0;
console.log(
  `gateway sealer on a ${BACKLOG.toLocaleString('en')}-entry backlog at ${sealed.toLocaleString('en')} sealed: ${Math.round(n / (sealerMs / 1000)).toLocaleString('en')} entries/s`,
);

if (args.keep || args.url) console.log(`kept: ${db.ownerUrl}`);
else await db.drop();
process.exit(0);
