import { PGlite } from '@electric-sql/pglite';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import type { SQL } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import pg from 'pg';
import * as schema from './schema/index.js';

/** One type for both drivers, so every repository runs unchanged on PGlite and on PostgreSQL. */
export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];
export type Executor = Db | Tx;

/** Rows of a raw query; both drivers answer `{ rows }`, which the shared type leaves unknown. */
export async function queryRows<T>(db: Executor, query: SQL): Promise<T[]> {
  return ((await db.execute(query)) as unknown as { rows: T[] }).rows;
}

export interface Database {
  db: Db;
  driver: 'pglite' | 'pg';
  close(): Promise<void>;
}

/** PostgreSQL through a `pg` pool. */
export function openPostgres(url: string, options: { max?: number } = {}): Database {
  const pool = new pg.Pool({ connectionString: url, max: options.max ?? 10 });
  // An idle client that loses its server must not crash the process; the next query fails instead.
  pool.on('error', () => undefined);
  // A client checked out for a request's transaction has no pool listener: if its connection drops
  // mid-request, its 'error' event would be uncaught and crash the process. The query in flight
  // rejects anyway (the request ends as a 503) and the pool discards the client on release.
  pool.on('connect', (client) => client.on('error', () => undefined));
  const db = drizzlePg(pool, { schema }) as unknown as Db;
  return { db, driver: 'pg', close: () => pool.end() };
}

/** Embedded PGlite: `dataDir` keeps it on disk, undefined keeps it in memory (tests). */
export async function openPglite(dataDir?: string): Promise<Database & { client: PGlite }> {
  const client = dataDir ? await PGlite.create(dataDir) : await PGlite.create();
  const db = drizzlePglite(client, { schema }) as unknown as Db;
  return { db, client, driver: 'pglite', close: () => client.close() };
}
