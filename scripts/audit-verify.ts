// `npm run audit:verify [-- --file EXPORT.json]`: checks the whole access log against its signed
// checkpoints, from an export (offline, on any machine) or from the database of DATABASE_URL /
// DATA_DIR. Exits 0 when it verifies, 1 naming the first entry that fails.
import { readFileSync } from 'node:fs';
import { exportLog } from '../src/audit/export.js';
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
const started = performance.now();
const report = await verifyLog(data);
const ms = Math.round(performance.now() - started);
if (report.ok) {
  console.log(`OK: ${report.leaves} sealed entries verify against ${report.checkpoints} signed checkpoints (${ms} ms)`);
} else {
  const f = report.failure!;
  console.log(`FAILED at ${f.leafIndex !== undefined ? `leaf ${f.leafIndex}` : `checkpoint ${f.checkpoint}`}${f.entryId ? ` (entry ${f.entryId})` : ''}: ${f.reason}`);
  process.exit(1);
}
