import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openPglite, openPostgres, type Database } from '../../src/db/client.js';
import { migrate } from '../../src/db/migrate.js';

export interface TestDatabase {
  /** What the gateway uses: on PostgreSQL a login role that is only a member of tiergate_app. */
  app: Database;
  driver: 'pglite' | 'pg';
  /** The schema owner, for what only the owner may do (the retention command). PGlite: `app`. */
  owner: Database;
  /** The owner's URL on PostgreSQL, for command-line tools run against this database. */
  ownerUrl?: string;
  /** Runs SQL as a superuser, for fault injection and for checks that bypass the gateway. */
  admin(sql: string, params?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>;
  close(): Promise<void>;
}

export const APP_LOGIN_ROLE = 'tiergate_gateway';

/**
 * One database per test file: an in-memory PGlite, or a fresh database on the PostgreSQL
 * server of TEST_DATABASE_URL, migrated by the superuser and served by a least-privilege role.
 */
export async function openTestDatabase(): Promise<TestDatabase> {
  if (process.env.TEST_DRIVER !== 'pg') {
    const database = await openPglite();
    await migrate(database);
    return {
      app: database,
      driver: 'pglite',
      owner: database,
      // Without parameters several statements may be sent at once (a BEGIN ... COMMIT block).
      admin: async (sql, params) =>
        (params ? await database.client.query(sql, params) : ((await database.client.exec(sql)).at(-1) ?? { rows: [] })) as { rows: Record<string, unknown>[] },
      close: () => database.close(),
    };
  }
  const serverUrl = process.env.TEST_DATABASE_URL;
  if (!serverUrl) throw new Error('TEST_DATABASE_URL is required for the pg project');
  const name = `tiergate_t_${randomBytes(6).toString('hex')}`;
  const server = new pg.Client({ connectionString: serverUrl });
  await server.connect();
  await server.query(`CREATE DATABASE ${name}`);
  await server.end();

  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const owner = openPostgres(url.toString(), { max: 2 });
  await migrate(owner);
  // The login role is cluster-wide and shared by every test database; create it once, race-safe.
  await (owner.db as unknown as { $client: pg.Pool }).$client.query(`
    DO $$ BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${APP_LOGIN_ROLE}') THEN
        CREATE ROLE ${APP_LOGIN_ROLE} LOGIN IN ROLE tiergate_app;
      END IF;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END $$;`);
  const appUrl = new URL(url.toString());
  appUrl.username = APP_LOGIN_ROLE;
  appUrl.password = '';
  const app = openPostgres(appUrl.toString(), { max: 5 });
  const adminPool = (owner.db as unknown as { $client: pg.Pool }).$client;
  return {
    app,
    driver: 'pg',
    owner,
    ownerUrl: url.toString(),
    admin: async (sql, params) => adminPool.query(sql, params),
    close: async () => {
      await app.close().catch(() => undefined);
      await owner.close();
      const c = new pg.Client({ connectionString: serverUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}
