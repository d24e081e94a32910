import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendAccessLog } from '../../src/audit/append.js';
import { exportLog } from '../../src/audit/export.js';
import { sealAndCheckpoint, sealPending } from '../../src/audit/seal.js';
import { verifyLog } from '../../src/audit/verify.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { runScript } from '../helpers/cli.js';
import { openTestDatabase, type TestDatabase } from '../helpers/db.js';
import { bearer, createAgency, createSubject, createUser, type TestUser } from '../helpers/factories.js';

let database: TestDatabase;
let t: TestApp;
let clerk: TestUser;
let clinician: TestUser;
let subjectId: string;
const WRITERS = 50;
// PGlite is one embedded connection that runs transactions one at a time; the full 50 x 200
// runs on PostgreSQL, where the writers and the sealer really are concurrent.
const perWriter = () => (database.driver === 'pg' ? 200 : 40);

beforeAll(async () => {
  database = await openTestDatabase();
  t = await createTestApp(database.app);
  clerk = await createUser(t.deps, await createAgency(t.deps.db, 'police'), 'records_staff');
  clinician = await createUser(t.deps, await createAgency(t.deps.db, 'mental_health'), 'clinician');
  const subject = await createSubject(t.deps.db, clinician);
  subjectId = subject.id;
  for (let i = 0; i < 12; i++) {
    await request(t.app)
      .get(`/v1/subjects/${subject.id}`)
      .set(bearer(i % 2 ? clerk : clinician));
    if (i === 5) await sealAndCheckpoint(t.deps.db, t.deps.keys);
  }
  await sealAndCheckpoint(t.deps.db, t.deps.keys);
});
afterAll(() => database?.close());

// Every check runs twice: inline, and with the hashing on the worker thread in chunks of three
// leaves (the path a large log takes). Both must give the same report.
const verify = async () => {
  const data = await exportLog(t.deps.db);
  const inline = await verifyLog(data);
  expect(await verifyLog(data, undefined, { parallelFrom: 0, chunk: 3 })).toEqual(inline);
  return inline;
};

/** Runs SQL as the superuser with triggers off, as an insider with database access would. */
const tamper = (sql: string) => database.admin(`BEGIN; SET LOCAL session_replication_role = replica; ${sql}; COMMIT;`);
const leaf = async (i: number) => (await database.admin(`select entry_id::text as id from audit_seals where leaf_index = ${i}`)).rows[0]!.id as string;

describe('tamper evidence', () => {
  it('verifies an untouched log against every checkpoint', async () => {
    const report = await verify();
    expect(report).toMatchObject({ ok: true, checkpoints: 2 });
    expect(report.leaves).toBeGreaterThanOrEqual(12);
  });

  it('names an edited entry', async () => {
    const id = await leaf(3);
    const { rows } = await database.admin(`select reason from access_log where id = '${id}'`);
    await tamper(`update access_log set reason = 'edited' where id = '${id}'`);
    expect((await verify()).failure).toMatchObject({ leafIndex: 3, entryId: id, reason: expect.stringMatching(/altered/) });
    await tamper(`update access_log set reason = ${rows[0]!.reason === null ? 'null' : `'${rows[0]!.reason}'`} where id = '${id}'`);
    expect((await verify()).ok).toBe(true);
  });

  it('names an entry whose client request id was forged after sealing', async () => {
    const id = await leaf(5);
    const { rows } = await database.admin(`select client_request_id from access_log where id = '${id}'`);
    const original = rows[0]!.client_request_id as string | null;
    for (const forged of ['forged-request-0001', null]) {
      if (forged === original) continue;
      await tamper(`update access_log set client_request_id = ${forged === null ? 'null' : `'${forged}'`} where id = '${id}'`);
      expect((await verify()).failure, String(forged)).toMatchObject({ leafIndex: 5, entryId: id, reason: expect.stringMatching(/altered/) });
    }
    await tamper(`update access_log set client_request_id = ${original === null ? 'null' : `'${original}'`} where id = '${id}'`);
    expect((await verify()).ok).toBe(true);
  });

  it('names the first failure in leaf order: an edited entry before a missing leaf', async () => {
    const id = await leaf(1);
    const { rows } = await database.admin(`select reason from access_log where id = '${id}'`);
    await tamper(`update access_log set reason = 'edited' where id = '${id}'`);
    await tamper(`create temp table saved as select * from audit_seals where leaf_index = 7; delete from audit_seals where leaf_index = 7`);
    expect((await verify()).failure).toMatchObject({ leafIndex: 1, entryId: id, reason: expect.stringMatching(/altered/) });
    await tamper(`update access_log set reason = ${rows[0]!.reason === null ? 'null' : `'${rows[0]!.reason}'`} where id = '${id}'`);
    expect((await verify()).failure).toMatchObject({ leafIndex: 7, reason: expect.stringMatching(/leaf 7 is missing/) });
    await tamper(`insert into audit_seals select * from saved; drop table saved`);
    expect((await verify()).ok).toBe(true);
  });

  it('names a deleted middle entry', async () => {
    const id = await leaf(4);
    await tamper(`create temp table saved as select * from access_log where id = '${id}'; delete from access_log where id = '${id}'`);
    expect((await verify()).failure).toMatchObject({ leafIndex: 4, reason: expect.stringMatching(/missing/) });
    await tamper(`insert into access_log select * from saved; drop table saved`);
    expect((await verify()).ok).toBe(true);
  });

  it('detects a deleted entry whose seal was deleted too', async () => {
    await tamper(`create temp table saved as select * from audit_seals where leaf_index = 2; delete from audit_seals where leaf_index = 2`);
    expect((await verify()).failure).toMatchObject({ leafIndex: 2, reason: expect.stringMatching(/leaf 2 is missing/) });
    await tamper(`insert into audit_seals select * from saved; drop table saved`);
    expect((await verify()).ok).toBe(true);
  });

  it('detects reordered entries, even with their seals re-made to match', async () => {
    await tamper(`
      create temp table saved as select * from audit_seals where leaf_index in (1, 7);
      update audit_seals set leaf_index = -1 where leaf_index = 1;
      update audit_seals set leaf_index = 1 where leaf_index = 7;
      update audit_seals set leaf_index = 7 where leaf_index = -1`);
    const report = await verify();
    expect(report.ok).toBe(false);
    expect(report.failure).toMatchObject({ checkpoint: expect.any(Number), reason: expect.stringMatching(/root differs/) });
    await tamper(`delete from audit_seals where leaf_index in (1, 7); insert into audit_seals select * from saved; drop table saved`);
    expect((await verify()).ok).toBe(true);
  });

  it('detects the newest entries deleted after a checkpoint', async () => {
    const { rows } = await database.admin('select max(leaf_index)::int as last from audit_seals');
    const last = rows[0]!.last as number;
    await tamper(`
      create temp table saved_seals as select * from audit_seals where leaf_index > ${last - 3};
      create temp table saved_log as select * from access_log where id in (select entry_id from saved_seals);
      delete from access_log where id in (select entry_id from saved_seals);
      delete from audit_seals where leaf_index > ${last - 3}`);
    expect((await verify()).failure).toMatchObject({ reason: expect.stringMatching(/entries removed/), leafIndex: last - 2 });
    await tamper(
      `insert into access_log select * from saved_log; insert into audit_seals select * from saved_seals; drop table saved_log; drop table saved_seals`,
    );
    expect((await verify()).ok).toBe(true);
  });

  it("detects an entry taken out of the sealer's queue before it was sealed", async () => {
    // The gateway's role may delete from the queue (the sealer does); an entry it drops would
    // otherwise never be sealed and never checked.
    const res = await request(t.app).get(`/v1/subjects/${subjectId}`).set(bearer(clerk));
    const { rows } = await database.admin('select id::text as id, seq from access_log where request_id = $1', [res.headers['x-request-id']]);
    const { id, seq } = rows[0]!;
    expect(await verify()).toMatchObject({ ok: true, pending: 1 });
    await database.admin('delete from audit_seal_queue where entry_id = $1', [id]);
    expect((await verify()).failure).toMatchObject({ entryId: id, reason: expect.stringMatching(/neither sealed nor queued/) });
    await database.admin('insert into audit_seal_queue (entry_id, seq) values ($1, $2)', [id, seq]);
    expect(await verify()).toMatchObject({ ok: true, pending: 1 });
    await sealAndCheckpoint(t.deps.db, t.deps.keys);
    expect(await verify()).toMatchObject({ ok: true, pending: 0 });
  });

  it('rejects a checkpoint whose signature or fields were forged', async () => {
    await tamper(
      `create temp table saved as select * from audit_checkpoints; update audit_checkpoints set root_hash = repeat('0', 64) where tree_size = (select min(tree_size) from audit_checkpoints)`,
    );
    expect((await verify()).failure).toMatchObject({ reason: expect.stringMatching(/differ from what was signed/) });
    await tamper(`delete from audit_checkpoints; insert into audit_checkpoints select * from saved; drop table saved`);
    expect((await verify()).ok).toBe(true);
  });
});

describe('the sealer', () => {
  // PGlite only: on PostgreSQL a re-read takes another pooled connection and cannot block itself.
  it.runIf(process.env.TEST_DRIVER !== 'pg')(
    'signs a checkpoint while its key store re-reads the keys (no self-deadlock on one connection)',
    async () => {
      // A deadlocked child never exits: it is killed after the timeout and the exit code is null.
      const { code, stdout } = await runScript('test/fixtures/checkpoint-with-stale-keys.ts');
      expect(code).toBe(0);
      expect(JSON.parse(stdout)).toEqual({ treeSize: 1 });
    },
    90_000,
  );
});

describe('concurrent writers', () => {
  it('50 concurrent writers (x 200 on PostgreSQL) with a sealer running leave one gap-free sequence that verifies', async () => {
    const before = (await exportLog(t.deps.db)).leaves.length;
    // Five of the writers also run the sealer every tenth entry, so sealing interleaves with
    // commits still in flight on other connections (a timer-driven sealer would starve here:
    // in-process PGlite work never yields to the timer queue).
    let sealings = 0;
    await Promise.all(
      Array.from({ length: WRITERS }, async (_, w) => {
        for (let i = 0; i < perWriter(); i++) {
          await t.deps.db.transaction((tx) =>
            appendAccessLog(tx, { requestId: `w${w}-${i}`, action: 'subject.search', decision: 'allow', detail: { writer: w, i } }),
          );
          if (w < 5 && i % 10 === 9) sealings += (await sealPending(t.deps.db, 500)) > 0 ? 1 : 0;
        }
      }),
    );
    // On PostgreSQL sealing overlaps the writers; PGlite's lock-step scheduling may leave it all to the end.
    if (database.driver === 'pg') expect(sealings).toBeGreaterThan(0);
    await sealAndCheckpoint(t.deps.db, t.deps.keys);
    const data = await exportLog(t.deps.db);
    expect(data.leaves.length).toBe(before + WRITERS * perWriter());
    expect(data.leaves.map((l) => l.leafIndex)).toEqual(Array.from({ length: data.leaves.length }, (_, i) => i));
    const { rows } = await database.admin('select count(*)::int as n from access_log');
    expect(rows[0]!.n).toBe(data.leaves.length);
    expect(await verifyLog(data)).toMatchObject({ ok: true });
  }, 180_000);
});
