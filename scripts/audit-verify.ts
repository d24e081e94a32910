// `npm run audit:verify [-- --file EXPORT.json] [--keys JWKS.json] [--checkpoints KEPT]`: checks
// the whole access log against its signed checkpoints, from an export (offline, on any machine) or
// from the database of DATABASE_URL / DATA_DIR. --keys pins the public keys to trust (recorded
// earlier from GET /v1/audit/checkpoints/keys) instead of the keys the export carries.
// --checkpoints checks checkpoints a partner kept (a JSON array of checkpoint objects or JWS
// strings, or one JWS per line) against the log: after a restore, each must match it. Exits 0
// when it verifies, 1 naming the first entry that fails or each kept checkpoint that does not match.
import { readFileSync } from 'node:fs';
import { exportLog } from '../src/audit/export.js';
import type { JWK } from 'jose';
import { verifyLog, type LogExport } from '../src/audit/verify.js';
import { checkKeptCheckpoints } from '../src/audit/kept-checkpoints.js';
import { openFromEnvironment } from './database.js';

const fileAt = process.argv.indexOf('--file');
let data: LogExport;
if (fileAt > 0) {
  data = JSON.parse(readFileSync(process.argv[fileAt + 1]!, 'utf8')) as LogExport;
} else {
  const database = await openFromEnvironment();
  data = await exportLog(database.db);
  await database.close();
}
const keysAt = process.argv.indexOf('--keys');
let trusted: JWK[] | undefined;
if (keysAt > 0) {
  const jwks = JSON.parse(readFileSync(process.argv[keysAt + 1]!, 'utf8')) as { keys?: JWK[] } | JWK[];
  trusted = Array.isArray(jwks) ? jwks : (jwks.keys ?? []);
}
const started = performance.now();
const report = await verifyLog(data, trusted);
const ms = Math.round(performance.now() - started);
if (!report.ok) {
  const f = report.failure!;
  console.log(
    `FAILED at ${f.leafIndex !== undefined ? `leaf ${f.leafIndex}` : `checkpoint ${f.checkpoint}`}${f.entryId ? ` (entry ${f.entryId})` : ''}: ${f.reason}`,
  );
  process.exit(1);
}
console.log(
  `OK: ${report.leaves} sealed entries verify against ${report.checkpoints} signed checkpoints${report.retired ? ` (${report.retired} retired under signed retention records)` : ''}${report.pending ? `; ${report.pending} newer entries wait in the queue to be sealed` : ''} (${ms} ms)`,
);

const keptAt = process.argv.indexOf('--checkpoints');
if (keptAt > 0) {
  const text = readFileSync(process.argv[keptAt + 1]!, 'utf8').trim();
  const parsed: unknown = text.startsWith('[') || text.startsWith('{') ? JSON.parse(text) : text.split(/\s+/);
  const list = (Array.isArray(parsed) ? parsed : ((parsed as { checkpoints?: unknown[] }).checkpoints ?? [])) as (string | { jws: string })[];
  const results = await checkKeptCheckpoints(
    data,
    list.map((c) => (typeof c === 'string' ? c : c.jws)),
    trusted,
  );
  const matching = results.filter((r) => r.status === 'matches').length;
  const explain = {
    beyond: 'is beyond this log: the entries after it are not here',
    forked: 'has another root: the log was rewritten',
    unverifiable: 'is not signed by a trusted key',
  };
  for (const r of results) if (r.status !== 'matches') console.log(`kept checkpoint ${r.treeSize ?? '?'} ${explain[r.status]}`);
  console.log(`${matching === results.length ? 'OK' : 'FAILED'}: ${matching} of ${results.length} kept checkpoints match the log`);
  if (matching !== results.length) process.exit(1);
}
