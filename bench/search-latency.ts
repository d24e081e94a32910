// `npm run bench:search [-- 10000,100000]`: how long a dispatcher waits for a person search
// (GET /v1/subjects?name=&dob=, SPEC: "well under a second"), through real HTTP with a real token,
// the policy decision and the access-log entry included, on embedded PGlite and on PostgreSQL
// (BENCH_DATABASE_URL, a superuser URL; default the local server; `--pglite-only` skips it).
// Sizes run side by side in one process; compare ratios, not seconds, on a noisy machine.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from '../src/app.js';
import { buildDeps } from '../src/deps.js';
import { loadPolicy } from '../src/authz/policy.js';
import { loadConfig } from '../src/config/index.js';
import { openPglite, queryRows, type Database } from '../src/db/client.js';
import { agencies, users } from '../src/db/schema/index.js';
import { createLogger } from '../src/logger.js';
import { sql } from 'drizzle-orm';
import { migrateWithKey, withScratchPostgres } from './scratch.js';

const sizes = (process.argv[2] && !process.argv[2].startsWith('--') ? process.argv[2] : '10000,100000').split(',').map(Number);
const pgliteOnly = process.argv.includes('--pglite-only');
const SEARCHES = 300;
const config = loadConfig({ NODE_ENV: 'development', LOG_LEVEL: 'silent' });

/** N people with names from small lists (so a name+dob search finds 0 to a few), each with a risk flag. */
async function seed(database: Database, n: number) {
  const { db } = database;
  const [police] = await db.insert(agencies).values({ slug: 'metro-police', name: 'Metro Police', kind: 'police' }).returning();
  const [mh] = await db.insert(agencies).values({ slug: 'harbor-mh', name: 'Harbor MH', kind: 'mental_health' }).returning();
  const [dispatcher] = await db
    .insert(users)
    .values({ username: 'dispatch@metro-police', agencyId: police!.id, role: 'dispatcher', passwordHash: '!' })
    .returning();
  const [clinician] = await db.insert(users).values({ username: 'clinician@harbor-mh', agencyId: mh!.id, role: 'clinician', passwordHash: '!' }).returning();
  await db.execute(sql`
    WITH s AS (
      INSERT INTO subjects (given_name, family_name, birth_date, sex, agency_id, created_by)
      SELECT (ARRAY['Ada','Alan','Grace','Edsger','Barbara','Donald','Frances','John','Katherine','Tim'])[1 + i % 10],
             'Family' || (i % 5000)::text,
             DATE '1940-01-01' + (i * 7919 % 25000),
             (ARRAY['female','male','unknown'])[1 + i % 3],
             ${mh!.id}, ${clinician!.id}
        FROM generate_series(1, ${n}::int) AS i
      RETURNING id)
    INSERT INTO risk_flags (subject_id, code, severity, note, agency_id, created_by)
    SELECT id, 'weapon-access', 'high', 'keeps a knife', ${mh!.id}, ${clinician!.id} FROM s`);
  await db.execute(sql`ANALYZE subjects`);
  await db.execute(sql`ANALYZE risk_flags`);
  const targets = await queryRows<{ name: string; dob: string }>(
    db,
    sql`SELECT given_name || ' ' || family_name AS name, birth_date::text AS dob FROM subjects ORDER BY random() LIMIT ${SEARCHES}`,
  );
  return { dispatcher: dispatcher!, police: police!, targets };
}

async function measure(label: string, database: Database, n: number): Promise<number> {
  const keys = await migrateWithKey(database, config.keyEncryptionKey);
  const deps = buildDeps(config, database.db, createLogger('silent'), keys, loadPolicy());
  const { dispatcher, police, targets } = await seed(database, n);
  const token = await deps.tokens.issue({ userId: dispatcher.id, agency: police.slug, agencyKind: 'police', role: 'dispatcher', amr: ['pwd'] });
  const server: Server = createServer(createApp(deps));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const times: number[] = [];
  try {
    for (const [i, q] of targets.entries()) {
      const t0 = performance.now();
      const res = await fetch(`${base}/v1/subjects?${new URLSearchParams({ name: q.name, dob: q.dob })}`, { headers: { authorization: `Bearer ${token}` } });
      const body = (await res.json()) as { subjects?: unknown[] };
      if (i >= 20) times.push(performance.now() - t0); // the first requests warm caches and the JIT
      if (res.status !== 200 || !body.subjects?.length) throw new Error(`search failed: ${res.status} ${JSON.stringify(body)}`);
    }
  } finally {
    await new Promise((r) => server.close(r));
  }
  times.sort((a, b) => a - b);
  const pct = (p: number) => times[Math.min(times.length - 1, Math.floor((p / 100) * times.length))]!;
  console.log(
    `${label} ${n.toLocaleString('en')} people: p50 ${pct(50).toFixed(1)} ms, p95 ${pct(95).toFixed(1)} ms, p99 ${pct(99).toFixed(1)} ms (${times.length} searches)`,
  );
  return pct(50);
}

for (const driver of pgliteOnly ? ['pglite'] : ['pglite', 'postgres']) {
  const medians: number[] = [];
  for (const n of sizes) {
    if (driver === 'pglite') {
      const database = await openPglite();
      try {
        medians.push(await measure('pglite  ', database, n));
      } finally {
        await database.close();
      }
    } else {
      medians.push(await withScratchPostgres(5, (database) => measure('postgres', database, n)));
    }
  }
  for (let i = 1; i < sizes.length; i++) console.log(`${driver}: median x${(medians[i]! / medians[0]!).toFixed(2)} for people x${sizes[i]! / sizes[0]!}`);
}
