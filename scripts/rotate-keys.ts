// `npm run keys:rotate`: creates a new active signing key; the previous one keeps verifying
// until every token it signed has expired. Required once before a production start.
import { mkdirSync } from 'node:fs';
import { rotateSigningKey } from '../src/auth/keys.js';
import { loadConfig } from '../src/config/index.js';
import { openPglite, openPostgres } from '../src/db/client.js';
import { migrate } from '../src/db/migrate.js';

const config = loadConfig();
if (!config.DATABASE_URL) mkdirSync(config.DATA_DIR, { recursive: true });
const database = config.DATABASE_URL ? openPostgres(config.DATABASE_URL, { max: 1 }) : await openPglite(config.DATA_DIR);
if (database.driver === 'pglite') await migrate(database);
const kid = await rotateSigningKey(database.db, config.keyEncryptionKey, config.TOKEN_TTL_SECONDS);
await database.close();
console.log(`new signing key ${kid} is active`);
