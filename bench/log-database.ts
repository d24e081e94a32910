// `npm run bench:database [-- 100000,1000000]`: the access log end to end on PostgreSQL, as an
// operator and an auditor meet it: seal N entries (sealer throughput), export them from the
// database, verify the export. Sizes run side by side in one process; ratios matter more than
// seconds on a noisy machine. Needs BENCH_DATABASE_URL (a superuser URL, default the local
// server); creates and drops its own database. Entries are written in bulk with SQL, shaped
// like real subject reads; the sealer, checkpoint, export and verifier are the gateway's own.
import type pg from 'pg';
import { exportLog } from '../src/audit/export.js';
import { issueCheckpoint, sealPending } from '../src/audit/seal.js';
import { verifyLog } from '../src/audit/verify.js';
import { loadConfig } from '../src/config/index.js';
import { migrateWithKey, withScratchPostgres } from './scratch.js';

const sizes = (process.argv[2] ?? '100000,1000000').split(',').map(Number);
const { keyEncryptionKey } = loadConfig({ NODE_ENV: 'development' });

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const results: { n: number; seal: number; exp: number; verify: number }[] = [];
for (const n of sizes) {
  await withScratchPostgres(2, async (database) => {
    const keys = await migrateWithKey(database, keyEncryptionKey);
    const pool = (database.db as unknown as { $client: pg.Pool }).$client;
    await pool.query(
      `WITH e AS (
         INSERT INTO access_log (request_id, actor_user_id, actor_username, actor_agency, actor_role, subject_id, action, decision, tier, basis, detail)
         SELECT gen_random_uuid()::text, gen_random_uuid(), 'clerk@metro-police', 'metro-police', 'records_staff', gen_random_uuid(),
                'subject.read', 'allow', 'intermediate',
                '[{"tier":"basic","rule":"partner-read"},{"tier":"intermediate","rule":"consent"}]'::jsonb,
                jsonb_build_object('entries', jsonb_build_array(jsonb_build_object('kind', 'diagnosis', 'tier', 'intermediate')))
           FROM generate_series(1, $1::int)
         RETURNING id, seq)
       INSERT INTO audit_seal_queue (entry_id, seq) SELECT id, seq FROM e`,
      [n],
    );
    let t0 = performance.now();
    while ((await sealPending(database.db)) > 0);
    await issueCheckpoint(database.db, keys);
    const seal = performance.now() - t0;
    t0 = performance.now();
    const data = await exportLog(database.db);
    const exp = performance.now() - t0;
    t0 = performance.now();
    const report = await verifyLog(data);
    const verify = performance.now() - t0;
    if (!report.ok || report.leaves !== n) throw new Error(`verification failed: ${JSON.stringify(report)}`);
    results.push({ n, seal, exp, verify });
    console.log(
      `${n.toLocaleString('en')} entries: seal ${seconds(seal)} (${Math.round(n / (seal / 1000)).toLocaleString('en')} entries/s), export ${seconds(exp)}, verify ${seconds(verify)}`,
    );
  });
}
const base = results[0]!;
for (const r of results.slice(1)) {
  const x = (a: number, b: number) => (a / b).toFixed(1);
  console.log(
    `ratio ${r.n}/${base.n} (size x${r.n / base.n}): seal x${x(r.seal, base.seal)}, export x${x(r.exp, base.exp)}, verify x${x(r.verify, base.verify)}`,
  );
}
