// What the benchmarks share: a throwaway PostgreSQL database, and a migrated database with a key.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { KeyStore, rotateSigningKey } from '../src/auth/keys.js';
import { openPostgres, type Database } from '../src/db/client.js';
import { migrate } from '../src/db/migrate.js';

/** The server the benchmarks create their databases on: BENCH_DATABASE_URL (a superuser URL). */
export const BENCH_SERVER_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** Runs one statement on the bench server (CREATE or DROP DATABASE). */
export async function onServer(statement: string): Promise<void> {
  const c = new pg.Client({ connectionString: BENCH_SERVER_URL });
  await c.connect();
  try {
    await c.query(statement);
  } finally {
    await c.end();
  }
}

/** Runs `work` on a fresh database of the bench server, dropped afterwards whatever happens. */
export async function withScratchPostgres<T>(max: number, work: (database: Database) => Promise<T>): Promise<T> {
  const name = `tiergate_bench_${randomBytes(4).toString('hex')}`;
  await onServer(`CREATE DATABASE ${name}`);
  const url = new URL(BENCH_SERVER_URL);
  url.pathname = `/${name}`;
  const database = openPostgres(url.toString(), { max });
  try {
    return await work(database);
  } finally {
    await database.close();
    await onServer(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  }
}

/** Migrates `database` and gives it an active signing key, as a first start would. */
export async function migrateWithKey(database: Database, keyEncryptionKey: Buffer): Promise<KeyStore> {
  await migrate(database);
  await rotateSigningKey(database.db, keyEncryptionKey, 900, 0);
  const keys = new KeyStore(database.db, keyEncryptionKey);
  await keys.load();
  return keys;
}
