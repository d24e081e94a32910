import { sql } from 'drizzle-orm';
import { CompactSign, compactVerify, createLocalJWKSet, exportJWK, generateKeyPair } from 'jose';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportLog } from '../../src/audit/export.js';
import { logPartitions, planRetention, RETENTION_TYP, RetentionRefused, retireLogPartitions } from '../../src/audit/retention.js';
import { LOG_ID, sealAndCheckpoint } from '../../src/audit/seal.js';
import { verifyLog, type LogExport } from '../../src/audit/verify.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { runScript } from '../helpers/cli.js';
import { openTestDatabase, type TestDatabase } from '../helpers/db.js';
import { bearer, createAgency, createSubject, createUser, type TestUser } from '../helpers/factories.js';

let database: TestDatabase;
let t: TestApp;
let clerk: TestUser;
let subjectId: string;

const monthName = (d: Date) => `access_log_y${d.getUTCFullYear()}m${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
const current = monthName(new Date());
const isPg = () => database.driver === 'pg';
const tamper = (statements: string) => database.admin(`BEGIN; SET LOCAL session_replication_role = replica; ${statements}; COMMIT;`);

/** Entries written long ago, as an older deployment would have: superuser inserts with their own `at`. */
async function oldEntries(at: string, n: number): Promise<string[]> {
  await database.admin('select tiergate_create_log_partition($1::timestamptz)', [at]);
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const { rows } = await database.admin(
      `insert into access_log (request_id, action, decision, "at") values ($1, 'subject.search', 'allow', $2::timestamptz) returning id::text as id, seq`,
      [`old-${at}-${i}`, at],
    );
    await database.admin('insert into audit_seal_queue (entry_id, seq) values ($1, $2)', [rows[0]!.id, rows[0]!.seq]);
    ids.push(rows[0]!.id as string);
  }
  return ids;
}

const count = async (where: string) => (await database.admin(`select count(*)::int as n from access_log where ${where}`)).rows[0]!.n as number;

beforeAll(async () => {
  database = await openTestDatabase();
  t = await createTestApp(database.app);
  clerk = await createUser(t.deps, await createAgency(t.deps.db, 'police'), 'records_staff');
  const clinician = await createUser(t.deps, await createAgency(t.deps.db, 'mental_health'), 'clinician');
  subjectId = (await createSubject(t.deps.db, clinician)).id;
});
afterAll(() => database?.close());

describe('monthly partitions', () => {
  it('partitions the log by month, with this month and the next two ready', async () => {
    const { rows } = await database.admin(`select partstrat from pg_partitioned_table where partrelid = 'access_log'::regclass`);
    expect(rows).toEqual([{ partstrat: 'r' }]);
    const names = (await logPartitions(t.deps.db)).map((p) => p.name);
    const now = new Date();
    const ahead = [0, 1, 2].map((i) => monthName(new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + i, 1))));
    expect(names).toEqual(expect.arrayContaining(ahead));
  });

  it('routes a request’s entry into this month’s partition', async () => {
    const res = await request(t.app).get(`/v1/subjects/${subjectId}`).set(bearer(clerk));
    expect(res.status).toBe(200);
    const { rows } = await database.admin(`select count(*)::int as n from ${current} where request_id = $1`, [res.headers['x-request-id']]);
    expect(rows[0]!.n).toBe(1);
  });

  it('keeps every partition append-only: UPDATE, DELETE and TRUNCATE on a partition itself fail, even for the superuser', async () => {
    const before = await count('true');
    await expect(database.admin(`update ${current} set reason = 'edited'`)).rejects.toThrow(/append-only/);
    await expect(database.admin(`delete from ${current}`)).rejects.toThrow(/append-only/);
    await expect(database.admin(`truncate ${current}`)).rejects.toThrow(/append-only/);
    expect(await count('true')).toBe(before);
  });

  it('gives the gateway role no rights on partitions, only the function that creates the months ahead', async () => {
    if (!isPg()) return; // PGlite runs as its superuser; roles and grants are PostgreSQL's concern here
    const privilege = async (expr: string) => (await database.admin(`select ${expr} as ok`)).rows[0]!.ok;
    for (const p of ['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE'])
      expect(await privilege(`has_table_privilege('tiergate_app', '${current}', '${p}')`)).toBe(false);
    expect(await privilege(`has_function_privilege('tiergate_app', 'tiergate_ensure_log_partitions(integer)', 'EXECUTE')`)).toBe(true);
    expect(await privilege(`has_function_privilege('tiergate_app', 'tiergate_create_log_partition(timestamptz)', 'EXECUTE')`)).toBe(false);
    expect(await privilege(`has_function_privilege('tiergate_app', 'tiergate_retire_log_partition(text)', 'EXECUTE')`)).toBe(false);
    const denied = { cause: expect.objectContaining({ message: expect.stringMatching(/permission denied/) }) };
    await expect(t.deps.db.execute(sql`select tiergate_retire_log_partition(${current})`)).rejects.toMatchObject(denied);
    await expect(t.deps.db.execute(sql`select tiergate_create_log_partition('2001-01-01'::timestamptz)`)).rejects.toMatchObject(denied);
    await expect(t.deps.db.execute(sql`select tiergate_ensure_log_partitions(2)`)).resolves.toBeDefined();
  });
});

describe('retention', () => {
  let march: string[];
  let april: string[];

  beforeAll(async () => {
    march = await oldEntries('2018-03-15T12:00:00Z', 5);
    april = await oldEntries('2018-04-02T08:00:00Z', 3);
    await request(t.app).get(`/v1/subjects/${subjectId}`).set(bearer(clerk));
    await sealAndCheckpoint(t.deps.db, t.deps.keys);
  });

  it('refuses anything younger than six years, in the code and in the database', async () => {
    const fiveYearsAgo = new Date(Date.UTC(new Date().getUTCFullYear() - 5, 0, 1));
    await expect(planRetention(database.owner.db, fiveYearsAgo)).rejects.toThrow(RetentionRefused);
    await expect(retireLogPartitions(database.owner.db, t.deps.keys, fiveYearsAgo, 'retention-ops')).rejects.toThrow(/younger than 6 years/);
    // Even the superuser calling the database function directly is refused.
    await expect(database.admin(`select tiergate_retire_log_partition('${current}')`)).rejects.toThrow(/younger than six years/);
    await expect(database.admin(`select tiergate_retire_log_partition('access_log')`)).rejects.toThrow(/not a partition/);
    expect((await logPartitions(t.deps.db)).map((p) => p.name)).toContain(current);
  });

  it('plans without changing anything', async () => {
    const entries = await count('true');
    const plan = await planRetention(database.owner.db, new Date('2018-04-01T00:00:00Z'));
    expect(plan.map((p) => [p.name, p.entries, p.unsealed])).toEqual([['access_log_y2018m03', 5, 0]]);
    expect(plan[0]!.leafRanges.flatMap(([a, b]) => Array.from({ length: b - a }, (_, i) => a + i))).toHaveLength(5);
    expect(await count('true')).toBe(entries);
  });

  it('drops a month older than six years, signs what it held, logs it, and the log still verifies', async () => {
    const [record, ...more] = await retireLogPartitions(database.owner.db, t.deps.keys, new Date('2018-04-01T00:00:00Z'), 'retention-ops');
    expect(more).toEqual([]);
    expect(record).toMatchObject({ name: 'access_log_y2018m03', entries: 5 });

    const names = (await logPartitions(t.deps.db)).map((p) => p.name);
    expect(names).not.toContain('access_log_y2018m03');
    expect(names).toContain('access_log_y2018m04');
    expect(await count(`id in (${march.map((id) => `'${id}'`).join(',')})`)).toBe(0);
    expect(await count(`id in (${april.map((id) => `'${id}'`).join(',')})`)).toBe(3);

    // The record is a JWS by the gateway's key over the month, its entries and their leaves.
    const { payload, protectedHeader } = await compactVerify(record!.jws, createLocalJWKSet(t.deps.keys.jwks()));
    expect(protectedHeader.typ).toBe(RETENTION_TYP);
    const claims = JSON.parse(new TextDecoder().decode(payload)) as Record<string, unknown>;
    expect(claims).toMatchObject({
      log: LOG_ID,
      partition: 'access_log_y2018m03',
      range_from: '2018-03-01T00:00:00.000Z',
      range_to: '2018-04-01T00:00:00.000Z',
      entries: 5,
      leaf_ranges: record!.leafRanges,
    });

    const { rows } = await database.admin(`select detail from access_log where action = 'audit.retention'`);
    expect(rows).toEqual([{ detail: expect.objectContaining({ partition: 'access_log_y2018m03', entries: 5, operator: 'retention-ops' }) }]);

    await sealAndCheckpoint(t.deps.db, t.deps.keys);
    expect(await verifyLog(await exportLog(t.deps.db))).toMatchObject({ ok: true, retired: 5 });
    // Nothing left to drop for that cut-off; the retention records stay append-only.
    expect(await retireLogPartitions(database.owner.db, t.deps.keys, new Date('2018-04-01T00:00:00Z'), 'retention-ops')).toEqual([]);
    await expect(database.admin(`delete from audit_retentions`)).rejects.toThrow(/append-only/);
    await expect(database.admin(`truncate audit_retentions`)).rejects.toThrow(/append-only/);
  });

  it('excuses only the leaves a record names: another missing entry still fails', async () => {
    const data = await exportLog(t.deps.db);
    const victim = data.leaves.find((l) => l.entry && l.entry.requestId.startsWith('old-2018-04'))!;
    await tamper(
      `create temp table saved as select * from access_log where id = '${victim.entry!.id}'; delete from access_log where id = '${victim.entry!.id}'`,
    );
    expect((await verifyLog(await exportLog(t.deps.db))).failure).toMatchObject({ leafIndex: victim.leafIndex, reason: expect.stringMatching(/missing/) });
    await tamper(`insert into access_log select * from saved; drop table saved`);
    expect((await verifyLog(await exportLog(t.deps.db))).ok).toBe(true);
  });

  it('rejects a retention record not signed by the gateway, or altered after signing', async () => {
    const data = await exportLog(t.deps.db);
    const victim = data.leaves.find((l) => l.entry && l.entry.requestId.startsWith('old-2018-04'))!;
    const cut = (d: LogExport): LogExport => ({ ...d, leaves: d.leaves.map((l) => (l === victim ? { ...l, entry: null } : l)) });
    const cp = data.checkpoints.at(-1)!;
    const claims = {
      log: LOG_ID,
      partition: 'access_log_y2018m04',
      entries: 1,
      leaf_ranges: [[victim.leafIndex, victim.leafIndex + 1]],
      tree_size: cp.treeSize,
      root_hash: cp.rootHash,
    };

    // An insider without the private key signs with their own.
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const own = { ...(await exportJWK(publicKey)), kid: 'insider' };
    const forged = await new CompactSign(new TextEncoder().encode(JSON.stringify(claims)))
      .setProtectedHeader({ alg: 'ES256', kid: 'insider', typ: RETENTION_TYP })
      .sign(privateKey);
    expect((await verifyLog(cut({ ...data, retentions: [...data.retentions!, { partition: 'access_log_y2018m04', jws: forged }] }))).failure).toMatchObject({
      reason: expect.stringMatching(/access_log_y2018m04: signature/),
    });
    // An insider who also slips their key into the database's key table fools a verifier that
    // trusts the export's keys, but not an auditor who pins the gateway's published keys.
    const planted = cut({ ...data, keys: [...data.keys, own], retentions: [...data.retentions!, { partition: 'access_log_y2018m04', jws: forged }] });
    expect((await verifyLog(planted)).ok).toBe(true);
    expect((await verifyLog(planted, t.deps.keys.jwks().keys)).failure).toMatchObject({ reason: expect.stringMatching(/access_log_y2018m04: signature/) });

    // The real record with its leaf ranges widened: the signature no longer matches.
    const real = data.retentions![0]!;
    const [h, p, s] = real.jws.split('.');
    const widened = { ...JSON.parse(Buffer.from(p!, 'base64url').toString()), leaf_ranges: [[0, cp.treeSize]] };
    const altered = `${h}.${Buffer.from(JSON.stringify(widened)).toString('base64url')}.${s}`;
    expect((await verifyLog(cut({ ...data, retentions: [{ ...real, jws: altered }] }))).failure).toMatchObject({ reason: expect.stringMatching(/signature/) });

    // Without its record, the dropped month itself shows as missing entries.
    expect((await verifyLog({ ...data, retentions: [] })).failure).toMatchObject({ reason: expect.stringMatching(/missing/) });
  });
});

describe('the audit:retain command', () => {
  const cli = (args: string[], env: Record<string, string> = {}) => runScript('scripts/audit-retain.ts', args, env);

  it('answers usage (2) and refuses a cut-off younger than six years (1) before touching the database', async () => {
    expect(await cli(['--before', 'March'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/usage/) });
    expect(await cli(['--bogus'])).toMatchObject({ code: 2 });
    const recent = new Date().toISOString().slice(0, 7);
    expect(await cli(['--before', recent, '--apply'], { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' })).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/refused: .*younger than 6 years/),
    });
  });

  it('plans, then drops and signs, as the schema owner', async () => {
    if (!isPg()) return; // the in-memory PGlite of this file is not reachable from another process
    await oldEntries('2018-05-20T00:00:00Z', 2);
    await sealAndCheckpoint(t.deps.db, t.deps.keys);
    const env = { MIGRATION_DATABASE_URL: database.ownerUrl!, DATABASE_URL: database.ownerUrl! };
    const plan = await cli(['--before', '2018-06'], env);
    expect(plan).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(/would drop access_log_y2018m04: 3 entries[\s\S]*would drop access_log_y2018m05: 2 entries/),
    });
    expect(await count(`"at" < '2018-06-01'`)).toBe(5);
    const applied = await cli(['--before', '2018-06', '--apply'], env);
    expect(applied).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(/dropped access_log_y2018m04: 3 entries[\s\S]*dropped access_log_y2018m05: 2 entries/),
    });
    expect(await count(`"at" < '2018-06-01'`)).toBe(0);
    await sealAndCheckpoint(t.deps.db, t.deps.keys);
    expect(await verifyLog(await exportLog(t.deps.db))).toMatchObject({ ok: true, retired: 10 });
  });
});
