// `npm run migrate`: applies migrations/ to MIGRATION_DATABASE_URL (or DATABASE_URL), or to the
// embedded database under DATA_DIR when neither is set.
import { mkdirSync } from 'node:fs';
import { loadConfig } from '../src/config/index.js';
import { openPglite, openPostgres } from '../src/db/client.js';
import { migrate } from '../src/db/migrate.js';

const config = loadConfig();
const url = config.MIGRATION_DATABASE_URL ?? config.DATABASE_URL;
if (!url) mkdirSync(config.DATA_DIR, { recursive: true });
const database = url ? openPostgres(url, { max: 1 }) : await openPglite(config.DATA_DIR);
await migrate(database);
await database.close();
console.log(`migrations applied (${database.driver})`);
