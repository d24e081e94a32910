// `npm run audit:retain -- [--before YYYY-MM] [--apply]`: drops the access log's monthly partitions
// that end on or before --before (default: the month six years ago), oldest first. Without
// --apply it only prints the plan. Refuses anything younger than six years. Each dropped month
// gets a signed retention record (so audit:verify still passes) and an access-log entry. Needs
// the schema owner: MIGRATION_DATABASE_URL (else DATABASE_URL, else PGlite under DATA_DIR).
// Exit codes: 0 done, 1 refused or failed, 2 usage.
import { KeyStore } from '../src/auth/keys.js';
import { assertOldEnough, planRetention, RetentionRefused, retentionCutoff, retireLogPartitions } from '../src/audit/retention.js';
import { loadConfig } from '../src/config/index.js';
import { operatorName } from './audited-cli.js';
import { openFromEnvironment } from './database.js';

const USAGE = 'usage: npm run audit:retain -- [--before YYYY-MM] [--apply]';
const args = process.argv.slice(2);
const beforeAt = args.indexOf('--before');
const month = beforeAt >= 0 ? args[beforeAt + 1] : retentionCutoff().toISOString().slice(0, 7);
const known = new Set(['--before', '--apply', month]);
if (!month || !/^\d{4}-(0[1-9]|1[0-2])$/.test(month) || args.some((a) => !known.has(a))) {
  console.error(USAGE);
  process.exit(2);
}
const before = new Date(`${month}-01T00:00:00Z`);
const apply = args.includes('--apply');
try {
  assertOldEnough(before);
} catch (err) {
  console.error(`refused: ${(err as Error).message}`);
  process.exit(1);
}

const config = loadConfig();
const database = await openFromEnvironment({ owner: true });

try {
  if (!apply) {
    const plan = await planRetention(database.db, before);
    if (plan.length === 0) console.log(`nothing to drop before ${month}`);
    for (const p of plan)
      console.log(
        `would drop ${p.name}: ${p.entries} entries, leaves ${fmtRanges(p.leafRanges)}${p.unsealed ? `, ${p.unsealed} unsealed (sealed first)` : ''}`,
      );
    if (plan.length) console.log('run again with --apply to drop them');
  } else {
    const keys = new KeyStore(database.db, config.keyEncryptionKey);
    await keys.load();
    const records = await retireLogPartitions(database.db, keys, before, operatorName());
    if (records.length === 0) console.log(`nothing to drop before ${month}`);
    for (const r of records) console.log(`dropped ${r.name}: ${r.entries} entries, leaves ${fmtRanges(r.leafRanges)}, signed against checkpoint ${r.treeSize}`);
  }
} catch (err) {
  console.error(err instanceof RetentionRefused ? `refused: ${err.message}` : `failed: ${(err as Error).message}`);
  process.exitCode = 1;
} finally {
  await database.close();
}

function fmtRanges(ranges: [number, number][]): string {
  return ranges.length ? ranges.map(([a, b]) => (b - a === 1 ? `${a}` : `${a}..${b - 1}`)).join(', ') : 'none';
}
