import { randomBytes } from 'node:crypto';
import { eq } from 'drizzle-orm';
import request from 'supertest';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { decodeJwt } from 'jose';
import { issueEnrolmentCode } from '../../src/auth/enrolment.js';
import { THROTTLE } from '../../src/auth/throttle.js';
import { totpCode } from '../../src/auth/totp.js';
import { users } from '../../src/db/schema/index.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { openTestDatabase, type TestDatabase } from '../helpers/db.js';
import { createAgency, createUser, TEST_PASSWORD } from '../helpers/factories.js';

const KEK = randomBytes(32).toString('base64');
let database: TestDatabase;
let demo: TestApp;
let production: TestApp;
let agency: Awaited<ReturnType<typeof createAgency>>;

beforeAll(async () => {
  database = await openTestDatabase();
  demo = await createTestApp(database.app, { env: { KEY_ENCRYPTION_KEY: KEK } });
  production = await createTestApp(database.app, {
    env: { KEY_ENCRYPTION_KEY: KEK, NODE_ENV: 'production', DATABASE_URL: 'postgres://unused@127.0.0.1:5432/unused' },
  });
  agency = await createAgency(demo.deps.db, 'police');
});
afterAll(() => database?.close());
// Every request comes from 127.0.0.1: start each test with clean counters.
beforeEach(() => database.admin('delete from login_throttle'));

const login = (t: TestApp, username: string, password: string, otp?: string) =>
  request(t.app)
    .post('/oauth/token')
    .type('form')
    .send({ grant_type: 'password', username, password, ...(otp ? { otp } : {}) });

async function denials(username: string) {
  const { rows } = await database.admin(
    "select reason from access_log where action = 'token.issue' and decision = 'deny' and detail->>'username' = $1 order by seq",
    [username],
  );
  return rows.map((r) => r.reason);
}

/** Invites a user and completes enrolment through HTTP; returns the TOTP secret and recovery codes. */
async function enrolled(t: TestApp) {
  const user = await createUser(t.deps, agency, 'records_staff');
  const code = await issueEnrolmentCode(t.deps.db, user.userId);
  // createUser's users have a password: enrolment after a code proves it (it never sets a new one).
  const password = TEST_PASSWORD;
  const start = await request(t.app).post('/oauth/enrol').send({ username: user.username, enrolment_code: code, password });
  expect(start.status, JSON.stringify(start.body)).toBe(200);
  expect(start.headers['cache-control']).toContain('no-store');
  const secret: string = start.body.totp_secret;
  expect(start.body.otpauth_uri).toMatch(/^otpauth:\/\/totp\//);
  expect(start.body.recovery_codes).toHaveLength(10);
  // Before confirmation the factor is not enrolled: outside demo mode the user cannot log in.
  expect((await login(production, user.username, password, totpCode(secret))).status).toBe(400);
  const confirm = await request(t.app)
    .post('/oauth/enrol/confirm')
    .send({ username: user.username, enrolment_code: code, otp: totpCode(secret) });
  expect(confirm.status, JSON.stringify(confirm.body)).toBe(200);
  return { user, code, password, secret, recovery: start.body.recovery_codes as string[] };
}

describe('second factor', () => {
  it('enrols with a one-time code, then requires the TOTP code and refuses its replay', async () => {
    const { user, code, password, secret } = await enrolled(production);
    // The enrolment code is spent.
    const again = await request(production.app).post('/oauth/enrol').send({ username: user.username, enrolment_code: code, password });
    expect(again.status).toBe(400);
    expect(again.body).toEqual({ error: 'invalid_grant', error_description: expect.any(String) });

    expect((await login(production, user.username, password)).body.error).toBe('invalid_grant');
    expect((await login(production, user.username, password, '000000')).body.error).toBe('invalid_grant');
    // The code used at confirmation is spent too; wait for the next step rather than replaying it.
    const next = totpCode(secret, Date.now() + 30_000);
    const ok = await login(production, user.username, password, next);
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(decodeJwt(ok.body.access_token).amr).toEqual(['pwd', 'otp', 'mfa']);
    const replay = await login(production, user.username, password, next);
    expect(replay.status).toBe(400);
    expect(replay.body.error).toBe('invalid_grant');
    expect(await denials(user.username)).toEqual(['mfa-not-enrolled', 'otp-missing', 'otp-invalid', 'otp-replayed']);
  });

  it('accepts each recovery code once', async () => {
    const { user, password, recovery } = await enrolled(production);
    const first = await login(production, user.username, password, recovery[0]);
    expect(first.status).toBe(200);
    expect(decodeJwt(first.body.access_token).amr).toEqual(['pwd', 'mfa']);
    expect((await login(production, user.username, password, recovery[0])).status).toBe(400);
    expect((await login(production, user.username, password, recovery[1])).status).toBe(200);
  });

  it('is required for every user outside demo mode, and optional in demo mode until enrolled', async () => {
    const user = await createUser(demo.deps, agency, 'records_staff');
    const refused = await login(production, user.username, TEST_PASSWORD);
    expect(refused.status).toBe(400);
    expect(refused.body.error).toBe('invalid_grant');
    const allowed = await login(demo, user.username, TEST_PASSWORD);
    expect(allowed.status).toBe(200);
    expect(decodeJwt(allowed.body.access_token).amr).toEqual(['pwd']);
    expect(await denials(user.username)).toEqual(['mfa-not-enrolled']);

    const { user: enrolledUser, password } = await enrolled(demo);
    expect((await login(demo, enrolledUser.username, password)).status).toBe(400);
  });

  it('does not let a service user log in with a password', async () => {
    const user = await createUser(demo.deps, agency, 'records_staff');
    await demo.deps.db.update(users).set({ kind: 'service' }).where(eq(users.id, user.userId));
    expect((await login(demo, user.username, TEST_PASSWORD)).status).toBe(400);
    expect(await denials(user.username)).toEqual(['not-a-person']);
  });
});

describe('enrolment', () => {
  it('counts wrong first codes at confirmation toward the account lock', async () => {
    const user = await createUser(demo.deps, agency, 'records_staff');
    const code = await issueEnrolmentCode(demo.deps.db, user.userId);
    const start = await request(demo.app).post('/oauth/enrol').send({ username: user.username, enrolment_code: code, password: TEST_PASSWORD });
    expect(start.status).toBe(200);
    const wrong = totpCode(start.body.totp_secret as string, Date.now() + 10 * 60_000); // a valid code, but not for now
    for (let i = 0; i < THROTTLE.accountLimit; i++) {
      expect((await request(demo.app).post('/oauth/enrol/confirm').send({ username: user.username, enrolment_code: code, otp: wrong })).status).toBe(400);
    }
    const locked = await request(demo.app)
      .post('/oauth/enrol/confirm')
      .send({ username: user.username, enrolment_code: code, otp: totpCode(start.body.totp_secret as string) });
    expect(locked.status).toBe(429);
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('changes nothing and hands out no secret when its log entry cannot be written (503)', async () => {
    const user = await createUser(demo.deps, agency, 'records_staff');
    const code = await issueEnrolmentCode(demo.deps.db, user.userId);
    const state = async () =>
      (await database.admin('select password_hash, totp_secret_enc, enrolment_code_hash from users where id = $1', [user.userId])).rows[0];
    const before = await state();
    await database.admin('CREATE TRIGGER fault_block_log BEFORE INSERT ON access_log FOR EACH ROW EXECUTE FUNCTION tiergate_reject_change()');
    try {
      const res = await request(demo.app).post('/oauth/enrol').send({ username: user.username, enrolment_code: code, password: TEST_PASSWORD });
      expect(res.status).toBe(503);
      expect(res.body).toEqual({ error: 'temporarily_unavailable', ...(res.body.error_description ? { error_description: expect.any(String) } : {}) });
      expect(res.text).not.toMatch(/totp_secret|recovery_codes|otpauth/);
    } finally {
      await database.admin('DROP TRIGGER IF EXISTS fault_block_log ON access_log');
    }
    expect(await state()).toEqual(before);
    const { rows } = await database.admin('select count(*)::int as n from recovery_codes where user_id = $1', [user.userId]);
    expect(rows[0]!.n).toBe(0);
  });
});

describe('throttling', () => {
  it('locks an account after repeated failures, with Retry-After, whatever the password', async () => {
    const user = await createUser(demo.deps, agency, 'records_staff');
    for (let i = 0; i < THROTTLE.accountLimit; i++) expect((await login(demo, user.username, 'wrong password')).status).toBe(400);
    const locked = await login(demo, user.username, TEST_PASSWORD);
    expect(locked.status).toBe(429);
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(0);
    expect(locked.body.error).toBe('temporarily_unavailable');
    expect((await denials(user.username)).at(-1)).toBe('throttled');

    // The lock ends: the correct password works again and clears the count.
    await database.admin("update login_throttle set locked_until = now() - interval '1 second' where key = $1", [`account:${user.username}`]);
    expect((await login(demo, user.username, TEST_PASSWORD)).status).toBe(200);
    const { rows } = await database.admin('select count(*)::int as n from login_throttle where key = $1', [`account:${user.username}`]);
    expect(rows[0]!.n).toBe(0);
  });

  it('answers an unknown username exactly as a known one', async () => {
    const known = await createUser(demo.deps, agency, 'records_staff');
    const unknown = `nobody-${known.username}`;
    const a = await login(demo, known.username, 'wrong password');
    const b = await login(demo, unknown, 'wrong password');
    expect([a.status, a.body]).toEqual([b.status, b.body]);
    for (let i = 1; i < THROTTLE.accountLimit; i++) await login(demo, unknown, 'wrong password');
    const locked = await login(demo, unknown, 'wrong password');
    expect(locked.status).toBe(429);
  });

  const loginFrom = (t: TestApp, forwardedFor: string, username: string, password: string) =>
    request(t.app).post('/oauth/token').type('form').set('X-Forwarded-For', forwardedFor).send({ grant_type: 'password', username, password });

  it('behind a trusted proxy (TRUST_PROXY), counts each forwarded client address on its own', async () => {
    const proxied = await createTestApp(database.app, { env: { KEY_ENCRYPTION_KEY: KEK, TRUST_PROXY: 'loopback' } });
    for (let i = 0; i < THROTTLE.addressLimit; i++) await loginFrom(proxied, '203.0.113.7', `spray-${i}@nowhere`, 'wrong password');
    const user = await createUser(proxied.deps, agency, 'records_staff');
    expect((await loginFrom(proxied, '203.0.113.7', user.username, TEST_PASSWORD)).status).toBe(429);
    // Another client behind the same proxy is not locked out by the first one's failures.
    expect((await loginFrom(proxied, '203.0.113.8', user.username, TEST_PASSWORD)).status).toBe(200);
  });

  it('without a trusted proxy, X-Forwarded-For is ignored: a client cannot pick a fresh address per try', async () => {
    for (let i = 0; i < THROTTLE.addressLimit; i++) await loginFrom(demo, `198.51.100.${i}`, `spray-${i}@nowhere`, 'wrong password');
    const user = await createUser(demo.deps, agency, 'records_staff');
    expect((await loginFrom(demo, '198.51.100.250', user.username, TEST_PASSWORD)).status).toBe(429);
  });

  it('locks a client address that fails across many accounts', async () => {
    for (let i = 0; i < THROTTLE.addressLimit; i++) await login(demo, `spray-${i}@nowhere`, 'wrong password');
    const user = await createUser(demo.deps, agency, 'records_staff');
    const res = await login(demo, user.username, TEST_PASSWORD);
    expect(res.status).toBe(429);
  });
});
