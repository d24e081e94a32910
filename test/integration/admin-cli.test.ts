// `npm run admin -- ...` as an operator runs it: a child process (`npx tsx scripts/admin.ts`) on
// its own database: embedded PGlite under a temporary DATA_DIR, or (in the postgres project) a
// fresh PostgreSQL database migrated with `npm run migrate` and named by DATABASE_URL.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { exportJWK, generateKeyPair } from 'jose';
import pg from 'pg';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashCode } from '../../src/auth/enrolment.js';
import { openPglite, openPostgres, type Database } from '../../src/db/client.js';
import { createTestApp } from '../helpers/app.js';
import { bearer, createAgency, createUser } from '../helpers/factories.js';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');
const CODE = /enrolment code: ([a-z2-7]{5}(?:-[a-z2-7]{5}){3})/;
const onPostgres = process.env.TEST_DRIVER === 'pg';

let dir: string;
let env: NodeJS.ProcessEnv;
let dbName: string | undefined;

/** The CLI's environment: no inherited database settings, quiet logs, a fixed operator name. */
function cliEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const base = { ...process.env };
  for (const k of ['DATABASE_URL', 'MIGRATION_DATABASE_URL', 'DATA_DIR', 'NODE_ENV']) delete base[k];
  return { ...base, NODE_ENV: 'development', LOG_LEVEL: 'silent', USER: 'ops-tester', ...extra };
}

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run('npx', ['tsx', 'scripts/admin.ts', ...args], { cwd: ROOT, env, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** Opens the CLI's database in this process (the CLI has exited, so PGlite's files are free). */
async function openCliDatabase(): Promise<Database> {
  return onPostgres ? openPostgres(env.DATABASE_URL!, { max: 1 }) : openPglite(dir);
}

type Query = (sql: string, params?: unknown[]) => Promise<Record<string, unknown>[]>;

/** Looks into the CLI's database with one connection (opening PGlite from disk takes seconds). */
async function inspect<T>(look: (query: Query, database: Database) => Promise<T>): Promise<T> {
  const database = await openCliDatabase();
  try {
    const client = (database.db as unknown as { $client: { query(sql: string, params?: unknown[]): Promise<{ rows: Record<string, unknown>[] }> } }).$client;
    return await look(async (sql, params = []) => (await client.query(sql, params)).rows, database);
  } finally {
    await database.close();
  }
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'tiergate-cli-'));
  if (!onPostgres) {
    env = cliEnv({ DATA_DIR: dir });
    return;
  }
  const serverUrl = process.env.TEST_DATABASE_URL!;
  dbName = `tiergate_cli_${randomBytes(6).toString('hex')}`;
  const server = new pg.Client({ connectionString: serverUrl });
  await server.connect();
  await server.query(`CREATE DATABASE ${dbName}`);
  await server.end();
  const url = new URL(serverUrl);
  url.pathname = `/${dbName}`;
  env = cliEnv({ DATABASE_URL: url.toString() });
  await run('npx', ['tsx', 'scripts/migrate.ts'], { cwd: ROOT, env, timeout: 60_000 });
});

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  if (dbName) {
    const server = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
    await server.connect();
    await server.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await server.end();
  }
});

describe('admin CLI', { timeout: 240_000 }, () => {
  it('creates an agency and invites a user whose printed enrolment code enrols', async () => {
    const created = await cli('agency:create', 'metro-police', 'police', 'Metro Police');
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toMatch(/^created agency metro-police \(police\) [0-9a-f-]{36}$/m);

    // The operators' own accounts take effect at once; a change that waits names its operator.
    expect((await cli('agency:create', 'gateway', 'gateway', 'Gateway')).code).toBe(0);
    const operator = await cli('user:invite', 'ops@gateway', 'gateway', 'admin');
    expect(operator.code, operator.stderr).toBe(0);
    const anonymous = await cli('user:invite', 'clerk@metro-police', 'metro-police', 'records_staff');
    expect(anonymous.code).toBe(1);
    expect(anonymous.stderr).toContain('--operator');
    const notAnOperator = await cli('--operator', 'nobody@gateway', 'user:invite', 'clerk@metro-police', 'metro-police', 'records_staff');
    expect(notAnOperator.code).toBe(1);
    expect(notAnOperator.stderr).toContain('operator: not an operator');
    const invited = await cli('--operator', 'ops@gateway', 'user:invite', 'clerk@metro-police', 'metro-police', 'records_staff');
    expect(invited.code, invited.stderr).toBe(0);
    expect(invited.stdout).toContain('invited clerk@metro-police (records_staff at metro-police)');
    const code = CODE.exec(invited.stdout)?.[1];
    expect(code).toBeDefined();
    // Into a partner agency, the CLI goes through the same rule as HTTP: pending until approved.
    const approvalId = /approval ([0-9a-f-]{36})/.exec(invited.stdout)?.[1];
    expect(invited.stdout).toContain('pending: takes effect only when a compliance officer approves it');

    // A refusal: exit 1 with the reason on stderr, nothing changed. A usage error: exit 2.
    const badRole = await cli('user:invite', 'doc@metro-police', 'metro-police', 'clinician');
    expect(badRole.code).toBe(1);
    expect(badRole.stderr).toMatch(/no role clinician for police/);
    expect(badRole.stderr).toContain('role: unknown role for the agency kind');
    const usage = await cli('agency:create', 'only-a-slug');
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('usage: npm run admin');

    await inspect(async (query, database) => {
      // Each change wrote one access-log entry: no actor, the operator in the detail, a cli: request id.
      const log = await query(
        "select request_id, actor_user_id, action, decision, detail from access_log where request_id like 'cli:%' and decision = 'allow' order by seq",
      );
      expect(log.map((r) => r.action)).toEqual(['admin.agency.create', 'admin.agency.create', 'admin.user.invite', 'admin.user.invite']);
      for (const entry of log) {
        expect(entry).toMatchObject({ actor_user_id: null, decision: 'allow', detail: expect.objectContaining({ operator: 'ops-tester' }) });
        expect(entry.request_id).toMatch(/^cli:[0-9a-f-]{36}$/);
        expect(JSON.stringify(entry)).not.toContain(code);
      }
      const users = await query(
        "select u.role, u.password_hash, u.enrolment_code_hash, u.approval, a.kind from users u join agencies a on a.id = u.agency_id where a.kind <> 'gateway'",
      );
      expect(users).toEqual([{ role: 'records_staff', password_hash: '!', enrolment_code_hash: hashCode(code!), approval: 'pending', kind: 'police' }]);
      const [ops] = await query("select id from users where username = 'ops@gateway'");
      expect(await query('select id, kind, status, requested_by, requested_by_name from approvals')).toEqual([
        { id: approvalId, kind: 'user.invite', status: 'pending', requested_by: ops!.id, requested_by_name: 'ops@gateway' },
      ]);

      // The printed code alone does not enrol; with the approving compliance officer's half it does.
      const t = await createTestApp(database);
      const enrol = (extra: Record<string, string> = {}) =>
        request(t.app)
          .post('/oauth/enrol')
          .send({ username: 'clerk@metro-police', enrolment_code: code, password: 'a long enough passphrase', ...extra });
      expect((await enrol()).status).toBe(400);
      const compliance = await createUser(t.deps, await createAgency(t.deps.db, 'gateway'), 'compliance_officer');
      const approved = await request(t.app).post(`/v1/audit/approvals/${approvalId}/decision`).set(bearer(compliance)).send({ decision: 'approve' });
      expect(approved.status, JSON.stringify(approved.body)).toBe(200);
      const enrolled = await enrol({ approval_code: approved.body.approvalCode });
      expect(enrolled.status, JSON.stringify(enrolled.body)).toBe(200);
      expect(enrolled.body.totp_secret).toEqual(expect.any(String));
    });
  });

  it('rotates and lists signing keys, never printing key material', async () => {
    const before = await inspect((query) => query("select kid from signing_keys where status = 'active'"));
    expect(before).toHaveLength(1);
    const oldKid = before[0]!.kid as string;
    const rotated = await cli('keys:rotate');
    expect(rotated.code, rotated.stderr).toBe(0);
    const kid = /new signing key (\S+) \(ES256\)/.exec(rotated.stdout)?.[1];
    expect(kid).toBeDefined();
    expect(kid).not.toBe(oldKid);
    // With a key to overlap with, the new one is published first and signs after the delay.
    expect(rotated.stdout).toMatch(/signs from \d{4}-.*after 120 s/);

    const listed = await cli('keys:list');
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(new RegExp(`^${kid}\\tES256\\tactive\\tactivates \\d{4}-.*\\tretire-after -$`, 'm'));
    expect(listed.stdout).toMatch(new RegExp(`^${oldKid}\\tES256\\tretiring\\t.*retire-after \\d{4}-`, 'm'));
    expect(listed.stdout.trim().split('\n')).toHaveLength(2);
    for (const out of [rotated, listed]) expect(out.stdout).not.toMatch(/private|"d"|"x"/i);

    const log = await inspect((query) => query("select action, actor_user_id, detail from access_log where action like 'admin.keys.%' order by seq"));
    expect(log).toEqual([
      { action: 'admin.keys.rotate', actor_user_id: null, detail: expect.objectContaining({ kid, replaced: [oldKid], operator: 'ops-tester' }) },
      { action: 'admin.keys.list', actor_user_id: null, detail: { count: 2, operator: 'ops-tester' } },
    ]);
  });

  it('registers a client from a JWK file, refusing a private key, and disables a user', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
    const publicFile = path.join(dir, 'cad.jwks.json');
    const privateFile = path.join(dir, 'cad.private.json');
    writeFileSync(publicFile, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'cad-1' }] }));
    // A single JWK (not a set) is taken as a set of one; this one holds the private `d`.
    writeFileSync(privateFile, JSON.stringify({ ...(await exportJWK(privateKey)), kid: 'cad-1' }));

    const refused = await cli('client:register', 'metro-cad', 'metro-police', 'dispatcher', privateFile);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('private key material');
    const registered = await cli('--operator', 'ops@gateway', 'client:register', 'metro-cad', 'metro-police', 'dispatcher', publicFile);
    expect(registered.code, registered.stderr).toBe(0);
    expect(registered.stdout).toContain('registered client metro-cad (dispatcher at metro-police) with keys cad-1');
    expect(registered.stdout).toContain('pending: takes effect only when a compliance officer approves it');

    // A disable takes effect at once and, for a partner's account, is queued for review: it names the operator too.
    expect((await cli('user:disable', 'clerk@metro-police')).code).toBe(1);
    const disabled = await cli('--operator', 'ops@gateway', 'user:disable', 'clerk@metro-police');
    expect(disabled.code, disabled.stderr).toBe(0);
    expect(disabled.stdout).toMatch(/^user clerk@metro-police disabled at \d{4}-/);
    await inspect(async (query) => {
      const rows = await query(
        `select u.username, u.kind, u.role, u.disabled_at, c.client_id, c.approval from users u left join clients c on c.service_user_id = u.id
          where u.agency_id in (select id from agencies where kind <> 'gateway') order by u.username`,
      );
      // One client only: the refused registration left nothing behind.
      expect(rows).toEqual([
        { username: 'clerk@metro-police', kind: 'person', role: 'records_staff', disabled_at: expect.any(Date), client_id: null, approval: null },
        { username: 'client:metro-cad', kind: 'service', role: 'dispatcher', disabled_at: null, client_id: 'metro-cad', approval: 'pending' },
      ]);
      const actions = await query(
        "select action from access_log where request_id like 'cli:%' and decision = 'allow' and action in ('admin.client.register', 'admin.user.disable') order by seq",
      );
      expect(actions.map((r) => r.action)).toEqual(['admin.client.register', 'admin.user.disable']);
      const reviews = await query("select kind, effect, status, requested_by_name from approvals where kind = 'user.disable'");
      expect(reviews).toEqual([{ kind: 'user.disable', effect: 'at-once', status: 'pending', requested_by_name: 'ops@gateway' }]);
    });
  });
});
