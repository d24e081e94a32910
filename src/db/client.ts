import { PGlite } from '@electric-sql/pglite';
import { fuzzystrmatch } from '@electric-sql/pglite/contrib/fuzzystrmatch';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';
import { unaccent } from '@electric-sql/pglite/contrib/unaccent';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { drizzle as drizzlePg, NodePgSession, NodePgTransaction } from 'drizzle-orm/node-postgres';
import type { SQL } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import pg from 'pg';
import type * as schema from './schema/index.js';

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

/** How long the database may take before a request gives up and answers 503 (fail fast). */
export interface PostgresOptions {
  /** Pool size. */
  max?: number;
  /** Longest wait for a pooled connection (or a new one), in ms; 0 waits forever. */
  poolWaitMs?: number;
  /** Server-side statement_timeout, in ms; 0 is none. */
  statementTimeoutMs?: number;
  /** Server-side lock_timeout, in ms; 0 is none. */
  lockTimeoutMs?: number;
}

/** PostgreSQL through a `pg` pool. */
export function openPostgres(url: string, options: PostgresOptions = {}): Database {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max ?? 10,
    connectionTimeoutMillis: options.poolWaitMs ?? 0,
    // Sent at connection start-up, so every statement on every pooled connection is bounded.
    ...(options.statementTimeoutMs ? { statement_timeout: options.statementTimeoutMs } : {}),
    ...(options.lockTimeoutMs ? { lock_timeout: options.lockTimeoutMs } : {}),
    // A transaction left open by a stuck client never holds its locks for long.
    ...(options.statementTimeoutMs ? { idle_in_transaction_session_timeout: options.statementTimeoutMs * 2 } : {}),
    keepAlive: true,
  });
  // An idle client that loses its server must not crash the process; the next query fails instead.
  pool.on('error', () => undefined);
  // A client checked out for a request's transaction has no pool listener: if its connection drops
  // mid-request, its 'error' event would be uncaught and crash the process. The query in flight
  // rejects anyway (the request ends as a 503) and the pool discards the client on release.
  pool.on('connect', (client) => client.on('error', () => undefined));
  // No `schema` passed: nothing uses drizzle's relational queries, and with a schema every
  // transaction would build a query builder per table for nothing.
  const db = drizzlePg(pool) as unknown as Db;
  return { db, driver: 'pg', close: () => pool.end() };
}

// One drizzle transaction object per pooled connection, made the first time it is checked out.
const txOfClient = new WeakMap<pg.PoolClient, Tx>();

/**
 * `db.transaction(work)` on PostgreSQL, run on the pooled connection by hand so that a COMMIT
 * that did not commit fails the request. If the work swallowed a statement error, PostgreSQL has
 * aborted the transaction and answers COMMIT with ROLLBACK, not an error; drizzle's own
 * transaction then returns success and the response would leave without its log entry. The
 * work's `tx` is still a real drizzle transaction (savepoints, `rollback()`), made once per
 * connection. A connection that cannot roll back is discarded instead of going back to the pool.
 * PGlite keeps drizzle's own, which fails there already (resilience.test.ts covers both).
 */
export async function transaction<T>(db: Db, work: (tx: Tx) => Promise<T>): Promise<T> {
  const pool = (db as unknown as { session: { client: unknown } }).session.client;
  if (!(pool instanceof pg.Pool)) return db.transaction(work);
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const result = await work(txOver(db, client));
    // COMMIT of a transaction a swallowed error aborted answers ROLLBACK, not an error: nothing
    // was written, so nothing may be returned.
    const ended = await client.query('COMMIT');
    if (ended.command !== 'COMMIT') throw new Error(`transaction ended in ${ended.command}`);
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch((rollbackFailed: Error) => (broken = rollbackFailed));
    throw err;
  } finally {
    client.release(broken);
  }
}

function txOver(db: Db, client: pg.PoolClient): Tx {
  let tx = txOfClient.get(client);
  if (!tx) {
    const dialect = (db as unknown as { dialect: ConstructorParameters<typeof NodePgSession>[1] }).dialect;
    tx = new NodePgTransaction(dialect, new NodePgSession(client, dialect, undefined), undefined) as unknown as Tx;
    txOfClient.set(client, tx);
  }
  return tx;
}

/** Embedded PGlite: `dataDir` keeps it on disk, undefined keeps it in memory (tests). */
export async function openPglite(dataDir?: string): Promise<Database & { client: PGlite }> {
  // The matcher's blocking uses these contrib modules (CREATE EXTENSION in the migration); PGlite
  // can only create an extension whose module was loaded with the instance.
  const extensions = { pg_trgm, fuzzystrmatch, unaccent };
  const client = dataDir ? await PGlite.create(dataDir, { extensions }) : await PGlite.create({ extensions });
  const db = drizzlePglite(client) as unknown as Db;
  return { db, client, driver: 'pglite', close: () => client.close() };
}

/** A statement with a fixed text: sent by name on PostgreSQL, so each connection parses and plans it once. */
export interface Statement {
  name: string;
  text: string;
}

type RawClient = { query<R>(q: unknown, values?: unknown[]): Promise<{ rows: R[] }>; exec?: unknown };

/**
 * Runs a fixed statement on `db` (the pool, or a transaction's own connection) without building
 * a query per call; rows come back as the driver parses them. Both drivers: PGlite has no named
 * statements and takes the text with its parameters.
 */
export async function runStatement<R>(db: Executor, statement: Statement, values: unknown[]): Promise<R[]> {
  const client = (db as unknown as { session: { client: RawClient } }).session.client;
  if (typeof client.exec === 'function') return (await client.query<R>(statement.text, values)).rows;
  return (await client.query<R>({ name: statement.name, text: statement.text, values })).rows;
}
