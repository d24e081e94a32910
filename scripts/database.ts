// How the command-line tools reach the database: like the gateway (DATABASE_URL, else PGlite under
// DATA_DIR, migrated first). `owner` connects as the schema owner (MIGRATION_DATABASE_URL, else
// DATABASE_URL), for what only the owner may do.
import { mkdirSync } from 'node:fs';
import { loadConfig } from '../src/config/index.js';
import { openPglite, openPostgres, type Database } from '../src/db/client.js';
import { migrate } from '../src/db/migrate.js';

export async function openFromEnvironment(options: { owner?: boolean; max?: number } = {}): Promise<Database> {
  const config = loadConfig();
  const url = options.owner ? (config.MIGRATION_DATABASE_URL ?? config.DATABASE_URL) : config.DATABASE_URL;
  if (url) return openPostgres(url, { max: options.max ?? 2 });
  mkdirSync(config.DATA_DIR, { recursive: true });
  const database = await openPglite(config.DATA_DIR);
  await migrate(database);
  return database;
}
