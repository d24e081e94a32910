// What the HTTP benchmarks share (`npm run bench`, `npm run soak`): a scratch PostgreSQL database
// served by a least-privilege role, the demo tenancy, tokens, and the gateway run as its own
// process exactly as `npm start` runs it.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpus, loadavg, totalmem } from 'node:os';
import { execFileSync } from 'node:child_process';
import type pg from 'pg';
import { eq } from 'drizzle-orm';
import { KeyStore, rotateSigningKey } from '../src/auth/keys.js';
import { TokenService } from '../src/auth/tokens.js';
import { loadConfig } from '../src/config/index.js';
import { openPostgres, type Database } from '../src/db/client.js';
import { migrate } from '../src/db/migrate.js';
import { seedDemo } from '../src/db/seed/demo.js';
import { agencies, subjects, users } from '../src/db/schema/index.js';
import { BENCH_SERVER_URL, onServer } from './scratch.js';

export const APP_LOGIN_ROLE = 'tiergate_gateway';
export const config = loadConfig({ NODE_ENV: 'development', LOG_LEVEL: 'silent' });

export interface BenchDatabase {
  /** Superuser (owner) URL and the gateway role's URL of the scratch database. */
  ownerUrl: string;
  appUrl: string;
  owner: Database;
  tokens: TokenService;
  ids: { ada: string; grace: string; edsger: string };
  token(username: string): Promise<string>;
  drop(): Promise<void>;
}

/**
 * A fresh database: migrated, with a signing key, the demo tenancy and the gateway's login role.
 * `existingUrl` reopens one made before (kept by `--keep`) instead.
 */
export async function scratchDatabase(existingUrl?: string): Promise<BenchDatabase> {
  const url = new URL(existingUrl ?? BENCH_SERVER_URL);
  const name = existingUrl ? url.pathname.slice(1) : `tiergate_bench_${randomBytes(4).toString('hex')}`;
  if (!existingUrl) await onServer(`CREATE DATABASE ${name}`);
  url.pathname = `/${name}`;
  const ownerUrl = url.toString();
  const owner = openPostgres(ownerUrl, { max: 4 });
  if (!existingUrl) await migrate(owner);
  await (owner.db as unknown as { $client: pg.Pool }).$client.query(`
    DO $$ BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${APP_LOGIN_ROLE}') THEN
        CREATE ROLE ${APP_LOGIN_ROLE} LOGIN IN ROLE tiergate_app;
      END IF;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END $$;`);
  if (!existingUrl) await rotateSigningKey(owner.db, config.keyEncryptionKey, config.TOKEN_TTL_SECONDS, 0);
  await seedDemo(owner.db, config.DEMO_PASSWORD);
  const keys = new KeyStore(owner.db, config.keyEncryptionKey);
  await keys.load();
  const tokens = new TokenService(keys, config);
  const idOf = async (family: string) => (await owner.db.select({ id: subjects.id }).from(subjects).where(eq(subjects.familyName, family)))[0]!.id;
  const ids = { ada: await idOf('Lovelace'), grace: await idOf('Hopper'), edsger: await idOf('Dijkstra') };
  const appUrl = new URL(ownerUrl);
  appUrl.username = APP_LOGIN_ROLE;
  return {
    ownerUrl,
    appUrl: appUrl.toString(),
    owner,
    tokens,
    ids,
    async token(username: string) {
      const [row] = await owner.db
        .select({ user: users, agency: agencies })
        .from(users)
        .innerJoin(agencies, eq(users.agencyId, agencies.id))
        .where(eq(users.username, username));
      if (!row) throw new Error(`no user ${username}`);
      return tokens.issue({ userId: row.user.id, agency: row.agency.slug, agencyKind: row.agency.kind, role: row.user.role, amr: ['pwd', 'otp'] });
    },
    async drop() {
      await owner.close();
      await onServer(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

export interface Child {
  process: ChildProcess;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  stop(): Promise<number | null>;
}

/** Starts a TypeScript entry point as its own node process and waits until `ready` prints. */
export async function startProcess(entry: string, env: Record<string, string>, ready: RegExp, nodeArgs: string[] = [], cwd?: string): Promise<Child> {
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', entry], {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const onData = (d: Buffer) => {
      out += d.toString();
      if (ready.test(out)) {
        // From here on the output is read and dropped, as a container runtime would take it.
        child.stdout!.off('data', onData);
        child.stdout!.resume();
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    void exited.then((code) => reject(new Error(`${entry} exited with ${code}: ${stderr.slice(-2000)}`)));
  });
  child.stdout!.on('data', () => undefined);
  return {
    process: child,
    exited,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

/** Starts the gateway (src/main.ts) on the scratch database; `cwd` runs another checkout's. */
export function startGateway(db: BenchDatabase, port: number, env: Record<string, string> = {}, nodeArgs: string[] = [], cwd?: string): Promise<Child> {
  return startProcess(
    'src/main.ts',
    { NODE_ENV: 'development', DATABASE_URL: db.appUrl, MIGRATION_DATABASE_URL: db.ownerUrl, PORT: String(port), LOG_LEVEL: 'info', ...env },
    /tiergate listening/,
    nodeArgs,
    cwd,
  );
}

/** What a results file should say about the machine a run was measured on. */
export async function machine(owner: Database): Promise<Record<string, string>> {
  const c = (owner.db as unknown as { $client: pg.Pool }).$client;
  const version = (await c.query<{ v: string }>('SELECT version() AS v')).rows[0]!.v.split(' on ')[0]!;
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD']).toString().trim();
  } catch {
    /* not a git checkout */
  }
  return {
    cpu: `${cpus().length} x ${cpus()[0]?.model ?? 'unknown'}`,
    memory: `${Math.round(totalmem() / 2 ** 30)} GiB`,
    node: process.version,
    postgres: version,
    commit,
    load: loadavg()
      .map((l) => l.toFixed(2))
      .join(' '),
  };
}
