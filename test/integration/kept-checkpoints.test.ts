import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CompactSign, generateKeyPair } from 'jose';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportLog } from '../../src/audit/export.js';
import { checkKeptCheckpoints } from '../../src/audit/kept-checkpoints.js';
import { CHECKPOINT_TYP, LOG_ID, sealAndCheckpoint } from '../../src/audit/seal.js';
import { verifyLog, type LogExport } from '../../src/audit/verify.js';
import { SIGNING_ALG } from '../../src/auth/keys.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { runScript } from '../helpers/cli.js';
import { openTestDatabase, type TestDatabase } from '../helpers/db.js';
import { bearer, createAgency, createSubject, createUser } from '../helpers/factories.js';

// After a restore, the log must still hold the checkpoints partners kept: `audit:verify
// --checkpoints` (src/audit/kept-checkpoints.ts) says which match, which the log no longer
// reaches (a point-in-time restore to an earlier moment) and which it contradicts (a rewrite).

let database: TestDatabase;
let t: TestApp;
const kept: { treeSize: number; jws: string }[] = [];

async function sign(payload: object, key: Parameters<CompactSign['sign']>[0], kid: string) {
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload))).setProtectedHeader({ alg: SIGNING_ALG, kid, typ: CHECKPOINT_TYP }).sign(key);
}

beforeAll(async () => {
  database = await openTestDatabase();
  t = await createTestApp(database.app);
  const [mh, police] = await Promise.all([createAgency(t.deps.db, 'mental_health'), createAgency(t.deps.db, 'police')]);
  const clinician = await createUser(t.deps, mh, 'clinician');
  const clerk = await createUser(t.deps, police, 'records_staff');
  const subject = await createSubject(t.deps.db, clinician);
  for (const round of [3, 4]) {
    for (let k = 0; k < round; k++) expect((await request(t.app).get(`/v1/subjects/${subject.id}`).set(bearer(clerk))).status).toBe(200);
    const cp = await sealAndCheckpoint(t.deps.db, t.deps.keys);
    kept.push({ treeSize: cp!.treeSize, jws: cp!.jws });
  }
});
afterAll(async () => {
  t?.deps.metrics.close();
  await database?.close();
});

/** The log as a restore to just after the first kept checkpoint would leave it. */
const restoredTo = (data: LogExport, size: number): LogExport => ({
  ...data,
  leaves: data.leaves.filter((l) => l.leafIndex < size),
  checkpoints: data.checkpoints.filter((c) => c.treeSize <= size),
  unsealed: [],
});

describe('checkpoints partners kept', () => {
  it('all match the log they came from', async () => {
    const data = await exportLog(t.deps.db);
    expect((await verifyLog(data)).ok).toBe(true);
    expect(
      await checkKeptCheckpoints(
        data,
        kept.map((k) => k.jws),
      ),
    ).toEqual(kept.map((k) => ({ treeSize: k.treeSize, status: 'matches' })));
  });

  it('a log restored to an earlier moment verifies on its own, but the later checkpoint is beyond it', async () => {
    const restored = restoredTo(await exportLog(t.deps.db), kept[0]!.treeSize);
    expect((await verifyLog(restored)).ok).toBe(true);
    expect(
      await checkKeptCheckpoints(
        restored,
        kept.map((k) => k.jws),
      ),
    ).toEqual([
      { treeSize: kept[0]!.treeSize, status: 'matches' },
      { treeSize: kept[1]!.treeSize, status: 'beyond' },
    ]);
  });

  it('a checkpoint with another root for the same size is a fork; one no trusted key signed is unverifiable', async () => {
    const data = await exportLog(t.deps.db);
    const { kid, key } = await t.deps.keys.signingKey();
    const payload = { log: LOG_ID, tree_size: kept[0]!.treeSize, root_hash: '00'.repeat(32), issued_at: new Date().toISOString() };
    const forged = await sign(payload, key, kid);
    const stranger = await generateKeyPair(SIGNING_ALG);
    const foreign = await sign({ ...payload, root_hash: data.checkpoints[0]!.rootHash }, stranger.privateKey, 'someone-else');
    expect(await checkKeptCheckpoints(data, [forged, foreign])).toEqual(
      expect.arrayContaining([
        { treeSize: kept[0]!.treeSize, status: 'forked' },
        { treeSize: null, status: 'unverifiable' },
      ]),
    );
    // With pinned keys that do not include the gateway's, even its real checkpoints are refused.
    expect((await checkKeptCheckpoints(data, [kept[0]!.jws], [])).map((r) => r.status)).toEqual(['unverifiable']);
  });

  it.runIf(process.env.TEST_DRIVER === 'pg')('npm run audit:verify -- --checkpoints checks them against the database, with pinned keys', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tiergate-kept-'));
    const file = path.join(dir, 'kept.json');
    const keys = path.join(dir, 'keys.json');
    writeFileSync(file, JSON.stringify(kept));
    writeFileSync(keys, JSON.stringify((await request(t.app).get('/.well-known/jwks.json')).body));
    const ok = await runScript('scripts/audit-verify.ts', ['--keys', keys, '--checkpoints', file], { DATABASE_URL: database.ownerUrl! });
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout).toContain(`OK: 2 of 2 kept checkpoints match the log`);

    const { kid, key } = await t.deps.keys.signingKey();
    const forged = await sign({ log: LOG_ID, tree_size: kept[0]!.treeSize, root_hash: 'ab'.repeat(32), issued_at: new Date().toISOString() }, key, kid);
    writeFileSync(file, `${kept[0]!.jws}\n${forged}\n`);
    const bad = await runScript('scripts/audit-verify.ts', ['--keys', keys, '--checkpoints', file], { DATABASE_URL: database.ownerUrl! });
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain(`kept checkpoint ${kept[0]!.treeSize} has another root: the log was rewritten`);
    expect(bad.stdout).toContain('FAILED: 1 of 2 kept checkpoints match the log');
  });
});
