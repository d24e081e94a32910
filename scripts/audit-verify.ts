// `npm run audit:verify [-- --file EXPORT.json] [--keys JWKS.json]`: checks the whole access log
// against its signed checkpoints, from an export (offline, on any machine) or from the database of
// DATABASE_URL / DATA_DIR. --keys pins the public keys to trust (recorded earlier from
// GET /v1/audit/checkpoints/keys) instead of the keys the export carries. Exits 0 when it
// verifies, 1 naming the first entry that fails.
import { readFileSync } from 'node:fs';
import { exportLog } from '../src/audit/export.js';
import type { JWK } from 'jose';
import { verifyLog, type LogExport } from '../src/audit/verify.js';
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
if (report.ok) {
  console.log(
    `OK: ${report.leaves} sealed entries verify against ${report.checkpoints} signed checkpoints${report.retired ? ` (${report.retired} retired under signed retention records)` : ''}${report.pending ? `; ${report.pending} newer entries wait in the queue to be sealed` : ''} (${ms} ms)`,
  );
} else {
  const f = report.failure!;
  console.log(
    `FAILED at ${f.leafIndex !== undefined ? `leaf ${f.leafIndex}` : `checkpoint ${f.checkpoint}`}${f.entryId ? ` (entry ${f.entryId})` : ''}: ${f.reason}`,
  );
  process.exit(1);
}
