// How the command-line tools reach the database: like the gateway (DATABASE_URL, else PGlite under DATA_DIR).
import { mkdirSync } from 'node:fs';
import { loadConfig } from '../src/config/index.js';
import { openPglite, openPostgres, type Database } from '../src/db/client.js';
import { migrate } from '../src/db/migrate.js';

export async function openFromEnvironment(): Promise<Database> {
  const config = loadConfig();
  if (config.DATABASE_URL) return openPostgres(config.DATABASE_URL, { max: 2 });
  mkdirSync(config.DATA_DIR, { recursive: true });
  const database = await openPglite(config.DATA_DIR);
  await migrate(database);
  return database;
}
