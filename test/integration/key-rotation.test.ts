import request from 'supertest';
import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyStore, rotateSigningKey } from '../../src/auth/keys.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { openTestDatabase, type TestDatabase } from '../helpers/db.js';
import { bearer, createAgency, createUser, type TestUser } from '../helpers/factories.js';

let database: TestDatabase;
let t: TestApp;
let other: TestApp;
let clerk: TestUser;
const SEARCH = '/v1/subjects?name=nobody&dob=1980-01-01';

beforeAll(async () => {
  database = await openTestDatabase();
  // Two gateway instances on one database, each re-reading the key table at most every 200 ms.
  t = await createTestApp(database.app, { keyRefreshMs: 200 });
  other = await createTestApp(database.app, { keyRefreshMs: 200 });
  clerk = await createUser(t.deps, await createAgency(t.deps.db, 'police'), 'records_staff');
});
afterAll(() => database?.close());

const rotate = (delaySeconds: number) => rotateSigningKey(t.deps.db, t.deps.config.keyEncryptionKey, t.deps.config.TOKEN_TTL_SECONDS, delaySeconds);
const kidOf = (token: string) => decodeProtectedHeader(token).kid;

describe('signing key rotation', () => {
  it('publishes a new key before it signs, then signs with it while old tokens keep verifying', async () => {
    const before = clerk.token;
    const oldKid = kidOf(before);
    const newKid = await rotate(3600);
    await t.deps.keys.load();
    const jwks = await request(t.app).get('/.well-known/jwks.json');
    expect(jwks.body.keys.map((k: { kid: string }) => k.kid)).toEqual(expect.arrayContaining([oldKid, newKid]));
    for (const k of jwks.body.keys) expect(k).not.toHaveProperty('d');
    // The other instance, idle since, publishes it too once its copy is stale (no request needed).
    await new Promise((r) => setTimeout(r, 250));
    const elsewhere = await request(other.app).get('/.well-known/jwks.json');
    expect(elsewhere.body.keys.map((k: { kid: string }) => k.kid)).toEqual(expect.arrayContaining([oldKid, newKid]));
    // Not yet active: still signing with the old key.
    const during = await t.deps.tokens.issue({ userId: clerk.userId, agency: clerk.agency, agencyKind: clerk.kind, role: clerk.role, amr: ['pwd'] });
    expect(kidOf(during)).toBe(oldKid);

    // Activate it now, as if the publish delay had passed: by then every instance has read it.
    await database.admin('update signing_keys set activates_at = now() where kid = $1', [newKid]);
    await Promise.all([t.deps.keys.load(), other.deps.keys.load()]);
    const after = await t.deps.tokens.issue({ userId: clerk.userId, agency: clerk.agency, agencyKind: clerk.kind, role: clerk.role, amr: ['pwd'] });
    expect(kidOf(after)).toBe(newKid);
    for (const token of [before, during, after]) {
      expect((await request(t.app).get(SEARCH).set(bearer({ token }))).status).toBe(200);
    }
  });

  it('loses no request while keys rotate under load, on either instance', async () => {
    // Each new key is published one second before it signs, longer than the instances' refresh
    // interval: the protocol `npm run keys:rotate` follows with its default delay.
    const statuses: number[] = [];
    const kids = new Set<string>();
    let rotating = true;
    const load = async (issuer: TestApp, verifier: TestApp) => {
      while (rotating) {
        const token = await issuer.deps.tokens.issue({ userId: clerk.userId, agency: clerk.agency, agencyKind: clerk.kind, role: clerk.role, amr: ['pwd'] });
        kids.add(kidOf(token)!);
        statuses.push((await request(verifier.app).get(SEARCH).set(bearer({ token }))).status);
      }
    };
    const rotations = async () => {
      for (let i = 0; i < 3; i++) {
        await rotate(1);
        await new Promise((r) => setTimeout(r, 1_500));
      }
      rotating = false;
    };
    await Promise.all([load(t, other), load(other, t), rotations()]);
    expect(kids.size).toBeGreaterThanOrEqual(3);
    expect(statuses.length).toBeGreaterThan(20);
    const { rows } = await database.admin("select reason from access_log where action = 'authenticate'");
    expect(rows).toEqual([]);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
  });

  it('stops verifying a retired key', async () => {
    const token = await t.deps.tokens.issue({ userId: clerk.userId, agency: clerk.agency, agencyKind: clerk.kind, role: clerk.role, amr: ['pwd'] });
    const kid = kidOf(token)!;
    await rotate(0);
    await database.admin("update signing_keys set retire_after = now() - interval '1 second' where kid = $1", [kid]);
    const fresh = new KeyStore(t.deps.db, t.deps.config.keyEncryptionKey);
    await fresh.load();
    expect(await fresh.verificationKey(kid)).toBeUndefined();
    await t.deps.keys.load();
    const res = await request(t.app).get(SEARCH).set(bearer({ token }));
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
    const jwks = await request(t.app).get('/.well-known/jwks.json');
    expect(jwks.body.keys.map((k: { kid: string }) => k.kid)).not.toContain(kid);
  });
});
