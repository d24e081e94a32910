import request from 'supertest';
import { compactVerify, createLocalJWKSet } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyConsistency, verifyInclusion } from '../../src/audit/merkle.js';
import { sealAndCheckpoint, sealOnSchedule } from '../../src/audit/seal.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { runScript } from '../helpers/cli.js';
import { openTestDatabase, type TestDatabase } from '../helpers/db.js';
import { bearer, createAgency, createSubject, createUser, type TestUser } from '../helpers/factories.js';

let database: TestDatabase;
let t: TestApp;
let clerk: TestUser;
let dispatcher: TestUser;
let compliance: TestUser;
let admin: TestUser;
let firstSize: number;
let readEntryId: string;

beforeAll(async () => {
  database = await openTestDatabase();
  t = await createTestApp(database.app);
  const police = await createAgency(t.deps.db, 'police');
  clerk = await createUser(t.deps, police, 'records_staff');
  dispatcher = await createUser(t.deps, police, 'dispatcher');
  const gateway = await createAgency(t.deps.db, 'gateway');
  compliance = await createUser(t.deps, gateway, 'compliance_officer');
  admin = await createUser(t.deps, gateway, 'admin');
  const clinician = await createUser(t.deps, await createAgency(t.deps.db, 'mental_health'), 'clinician');
  const subject = await createSubject(t.deps.db, clinician);
  const read = await request(t.app).get(`/v1/subjects/${subject.id}`).set(bearer(clerk));
  const { rows } = await database.admin('select id::text as id from access_log where request_id = $1', [read.headers['x-request-id']]);
  readEntryId = rows[0]!.id as string;
  firstSize = (await sealAndCheckpoint(t.deps.db, t.deps.keys))!.treeSize;
  for (let i = 0; i < 5; i++) await request(t.app).get(`/v1/subjects/${subject.id}`).set(bearer(clerk));
  // A schedule interval later the background sealer signs the next checkpoint (reads never do).
  await tick(1);
});
afterAll(() => database?.close());

/** The background sealer's step, `intervals` of the policy's schedule from now. */
const tick = (intervals: number) => sealOnSchedule(t.deps.db, t.deps.keys, t.deps.pdp.policy.checkpoints, () => Date.now() + intervals * every());
const every = () => t.deps.pdp.policy.checkpoints.everySeconds * 1000;
const checkpointCount = async () => (await database.admin('SELECT count(*)::int AS n FROM audit_checkpoints')).rows[0]!.n as number;
const latest = (who: TestUser) => request(t.app).get('/v1/audit/checkpoints/latest').set(bearer(who));

describe('signed checkpoints', () => {
  it('gives partners the latest checkpoint, signed by a key in the JWKS', async () => {
    for (const who of [clerk, dispatcher, compliance]) {
      const res = await request(t.app).get('/v1/audit/checkpoints/latest').set(bearer(who));
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body.treeSize).toBeGreaterThan(firstSize);
      const jwks = await request(t.app).get('/.well-known/jwks.json');
      const { payload, protectedHeader } = await compactVerify(res.body.jws, createLocalJWKSet(jwks.body));
      expect(protectedHeader.typ).toBe('tiergate-checkpoint+jws');
      expect(JSON.parse(new TextDecoder().decode(payload))).toMatchObject({ tree_size: res.body.treeSize, root_hash: res.body.rootHash });
    }
  });

  it('refuses the admin, who has no business with the log', async () => {
    const res = await request(t.app).get('/v1/audit/checkpoints/latest').set(bearer(admin));
    expect(res.status).toBe(403);
  });

  it('proves an entry is in the log, to compliance only', async () => {
    const res = await request(t.app).get(`/v1/audit/entries/${readEntryId}/proof?treeSize=${firstSize}`).set(bearer(compliance));
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const proof = res.body.proof.map((h: string) => Buffer.from(h, 'hex'));
    expect(verifyInclusion(res.body.leafIndex, firstSize, Buffer.from(res.body.leafHash, 'hex'), proof, Buffer.from(res.body.checkpoint.rootHash, 'hex'))).toBe(
      true,
    );
    expect((await request(t.app).get(`/v1/audit/entries/${readEntryId}/proof`).set(bearer(clerk))).status).toBe(403);
    expect((await request(t.app).get(`/v1/audit/entries/${readEntryId}/proof?treeSize=999999`).set(bearer(compliance))).status).toBe(400);
  });

  it('proves a later checkpoint extends an earlier one', async () => {
    const latest = await request(t.app).get('/v1/audit/checkpoints/latest').set(bearer(clerk));
    const res = await request(t.app).get(`/v1/audit/checkpoints/consistency?from=${firstSize}&to=${latest.body.treeSize}`).set(bearer(clerk));
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const proof = res.body.proof.map((h: string) => Buffer.from(h, 'hex'));
    const root = (s: string) => Buffer.from(s, 'hex');
    expect(verifyConsistency(firstSize, latest.body.treeSize, root(res.body.from.rootHash), root(res.body.to.rootHash), proof)).toBe(true);
    expect((await request(t.app).get(`/v1/audit/checkpoints/consistency?from=${latest.body.treeSize}&to=${firstSize}`).set(bearer(clerk))).status).toBe(400);
  });
});

describe('checkpoints on a schedule, never per read', () => {
  it('is signed every minute in which entries were sealed: three reads answer the same checkpoint, a tick within the minute signs none', async () => {
    expect(t.deps.pdp.policy.checkpoints).toEqual({ everySeconds: 60 });
    await tick(1); // whatever the earlier tests logged
    const before = await checkpointCount();
    const answers = [];
    for (let k = 0; k < 3; k++) {
      const res = await latest(clerk);
      expect(res.status).toBe(200);
      answers.push(res.body);
    }
    // Each read is itself logged, so the log grew by three, and still no new checkpoint.
    expect(new Set(answers.map((a) => a.jws)).size).toBe(1);
    expect(await checkpointCount()).toBe(before);
    // The sealer seals those reads within the minute: sealed, but not signed yet.
    await sealOnSchedule(t.deps.db, t.deps.keys, t.deps.pdp.policy.checkpoints);
    expect((await database.admin('SELECT count(*)::int AS n FROM audit_seal_queue')).rows[0]!.n).toBe(0);
    expect(await checkpointCount()).toBe(before);
    expect((await latest(clerk)).body.jws).toBe(answers[0].jws);

    // A minute later the schedule ticks with new sealed entries: one new checkpoint covers them.
    const next = (await tick(1))!;
    expect(await checkpointCount()).toBe(before + 1);
    expect(next.treeSize).toBeGreaterThan(answers[0].treeSize);
    const after = await latest(compliance);
    expect(after.body).toMatchObject({ treeSize: next.treeSize, jws: next.jws });
  });

  it('signs nothing when nothing was sealed since the last checkpoint, however long ago it was', async () => {
    await latest(clerk); // logged
    const signed = (await tick(1))!;
    expect((await database.admin('SELECT count(*)::int AS n FROM audit_seal_queue')).rows[0]!.n).toBe(0);
    const before = await checkpointCount();
    // No request in between: nothing new to seal, so no checkpoint an hour of ticks later.
    for (const intervals of [2, 10, 60]) expect((await tick(intervals))!.jws).toBe(signed.jws);
    expect(await checkpointCount()).toBe(before);
  });

  it('proves an entry against the latest checkpoint; one sealed after it is 409 until the next tick', async () => {
    const read = await latest(clerk);
    const { rows } = await database.admin('SELECT id::text AS id FROM access_log WHERE request_id = $1', [read.headers['x-request-id']]);
    const entryId = rows[0]!.id as string;
    // Logged but not sealed yet.
    const queued = await request(t.app).get(`/v1/audit/entries/${entryId}/proof`).set(bearer(compliance));
    expect(queued.status).toBe(409);
    expect(queued.body.detail).toMatch(/not sealed yet/);
    // Sealed, but after the latest checkpoint (within the minute).
    await sealOnSchedule(t.deps.db, t.deps.keys, t.deps.pdp.policy.checkpoints);
    const later = await request(t.app).get(`/v1/audit/entries/${entryId}/proof`).set(bearer(compliance));
    expect(later.status).toBe(409);
    expect(later.body.detail).toMatch(/ask for a later one/);
    // The next tick signs a checkpoint that covers it.
    const cp = (await tick(1))!;
    const res = await request(t.app).get(`/v1/audit/entries/${entryId}/proof`).set(bearer(compliance));
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.checkpoint.treeSize).toBe(cp.treeSize);
    const proof = res.body.proof.map((h: string) => Buffer.from(h, 'hex'));
    expect(verifyInclusion(res.body.leafIndex, cp.treeSize, Buffer.from(res.body.leafHash, 'hex'), proof, Buffer.from(cp.rootHash, 'hex'))).toBe(true);
  });
});

describe('offline verification (npm run audit:verify -- --file)', () => {
  it('verifies an export on its own and names the first altered entry', async () => {
    const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const path = await import('node:path');
    const { exportLog } = await import('../../src/audit/export.js');
    await sealAndCheckpoint(t.deps.db, t.deps.keys);
    const dir = mkdtempSync(path.join(tmpdir(), 'tiergate-export-'));
    const good = path.join(dir, 'good.json');
    const data = await exportLog(t.deps.db);
    writeFileSync(good, JSON.stringify(data));
    const ok = await runScript('scripts/audit-verify.ts', ['--file', good]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^OK: \d+ sealed entries verify against \d+ signed checkpoints/);

    // An auditor pins the keys published at /.well-known/jwks.json; keys of anyone else verify nothing.
    const jwks = path.join(dir, 'jwks.json');
    writeFileSync(jwks, JSON.stringify((await request(t.app).get('/.well-known/jwks.json')).body));
    expect(await runScript('scripts/audit-verify.ts', ['--file', good, '--keys', jwks])).toMatchObject({ code: 0, stdout: expect.stringMatching(/^OK: /) });
    const { exportJWK, generateKeyPair } = await import('jose');
    const stranger = path.join(dir, 'stranger.json');
    writeFileSync(stranger, JSON.stringify({ keys: [{ ...(await exportJWK((await generateKeyPair('ES256')).publicKey)), kid: data.keys[0]!.kid }] }));
    const untrusted = await runScript('scripts/audit-verify.ts', ['--file', good, '--keys', stranger]);
    expect(untrusted.code).toBe(1);
    expect(untrusted.stdout).toMatch(/FAILED at checkpoint \d+: checkpoint signature does not verify/);

    const bad = path.join(dir, 'bad.json');
    data.leaves[2]!.entry!.decision = data.leaves[2]!.entry!.decision === 'allow' ? 'deny' : 'allow';
    writeFileSync(bad, JSON.stringify(data));
    const failed = await runScript('scripts/audit-verify.ts', ['--file', bad]);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toContain(`FAILED at leaf 2 (entry ${data.leaves[2]!.entry!.id})`);
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);
});

// Last in the file: it retires the key every other test's tokens were signed with.
describe('GET /v1/audit/checkpoints/keys', () => {
  it('keeps publishing a retired key for old checkpoints after the JWKS dropped it; admins are refused', async () => {
    const { rotateSigningKey } = await import('../../src/auth/keys.js');
    const { exportLog } = await import('../../src/audit/export.js');
    const { verifyLog } = await import('../../src/audit/verify.js');
    const old = (await sealAndCheckpoint(t.deps.db, t.deps.keys))!;
    await rotateSigningKey(t.deps.db, t.deps.config.keyEncryptionKey, t.deps.config.TOKEN_TTL_SECONDS, 0);
    await database.admin(`update signing_keys set retire_after = now() - interval '1 second' where kid = $1`, [old.kid]);
    await t.deps.keys.load();
    const fresh = async (u: TestUser) => ({
      Authorization: `Bearer ${await t.deps.tokens.issue({ userId: u.userId, agency: u.agency, agencyKind: u.kind, role: u.role, amr: ['pwd'] })}`,
    });

    const jwks = (await request(t.app).get('/.well-known/jwks.json')).body as { keys: { kid: string }[] };
    expect(jwks.keys.map((k) => k.kid)).not.toContain(old.kid);
    const res = await request(t.app)
      .get('/v1/audit/checkpoints/keys')
      .set(await fresh(clerk));
    expect(res.status, res.text).toBe(200);
    const all = res.body.keys as { kid: string; d?: string }[];
    expect(all.map((k) => k.kid)).toEqual(expect.arrayContaining([old.kid, ...jwks.keys.map((k) => k.kid)]));
    for (const k of all) expect(k).not.toHaveProperty('d');
    // An auditor who pinned this set verifies the whole log, old checkpoints included; with the JWKS alone they could not.
    const data = await exportLog(t.deps.db);
    expect(await verifyLog(data, res.body.keys)).toMatchObject({ ok: true });
    expect((await verifyLog(data, jwks.keys)).failure).toMatchObject({ reason: expect.stringMatching(/signature/) });

    const refused = await request(t.app)
      .get('/v1/audit/checkpoints/keys')
      .set(await fresh(admin));
    expect(refused.status).toBe(403);
    expect(refused.text).not.toContain(old.kid);
  });
});
