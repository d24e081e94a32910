// `npm run audit:export -- FILE`: writes what an auditor needs to verify the log elsewhere: the
// public keys, the signed checkpoints and every sealed entry (ids and rule names, no clinical text).
import { writeFileSync } from 'node:fs';
import { exportLog } from '../src/audit/export.js';
import { openFromEnvironment } from './database.js';

const file = process.argv[2];
if (!file) {
  console.error('usage: npm run audit:export -- FILE');
  process.exit(2);
}
const database = await openFromEnvironment();
const data = await exportLog(database.db);
await database.close();
writeFileSync(file, JSON.stringify(data));
console.log(`exported ${data.leaves.length} sealed entries and ${data.checkpoints.length} checkpoints to ${file}`);
