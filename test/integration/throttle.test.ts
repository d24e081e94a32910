// The sign-in throttle under concurrency, and equal answers: real HTTP (one listening server, so
// requests really are in flight together), the real database on both drivers, and the count of
// argon2id verifications the one verify function keeps (src/auth/passwords.ts).
import { createServer, type Server } from 'node:http';
import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { exportJWK, generateKeyPair } from 'jose';
import request from 'supertest';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { registerClient, serviceUsername } from '../../src/auth/clients.js';
import { issueEnrolmentCode } from '../../src/auth/enrolment.js';
import { passwordVerifications } from '../../src/auth/passwords.js';
import { accountKey, THROTTLE } from '../../src/auth/throttle.js';
import { totpCode } from '../../src/auth/totp.js';
import { agencies, users } from '../../src/db/schema/index.js';
import { createMetrics } from '../../src/metrics/metrics.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { openTestDatabase, type TestDatabase } from '../helpers/db.js';
import { createAgency, createUser, TEST_PASSWORD } from '../helpers/factories.js';

let database: TestDatabase;
let t: TestApp;
let server: Server;
let police: Awaited<ReturnType<typeof createAgency>>;

beforeAll(async () => {
  database = await openTestDatabase();
  t = await createTestApp(database.app);
  server = createServer(t.app).listen(0, '127.0.0.1');
  police = await createAgency(t.deps.db, 'police');
});
afterAll(async () => {
  if (server) await new Promise((resolve) => server.close(resolve));
  await database?.close();
});
// Every request comes from 127.0.0.1: start each test with clean counters.
beforeEach(() => database.admin('delete from login_throttle'));

const WRONG = 'not the password at all';
const ENROL_CODE_SHAPE = () =>
  Array.from({ length: 4 }, () => Array.from({ length: 5 }, () => 'abcdefghijklmnopqrstuvwxyz234567'[Math.floor(Math.random() * 32)]).join('')).join('-');

const login = (username: string, password: string, otp?: string) =>
  request(server)
    .post('/oauth/token')
    .type('form')
    .send({ grant_type: 'password', username, password, ...(otp ? { otp } : {}) });

/** Runs `work` and returns what it answered with the number of argon2id verifications it cost. */
async function counted<T>(work: () => Promise<T>): Promise<{ result: T; verifications: number }> {
  const before = passwordVerifications();
  const result = await work();
  return { result, verifications: passwordVerifications() - before };
}

const statuses = (answers: { status: number }[]) => answers.map((a) => a.status).sort((a, b) => a - b);

async function denials(action: string, reason: string) {
  const { rows } = await database.admin('select count(*)::int as n from access_log where action = $1 and decision = $2 and reason = $3', [
    action,
    'deny',
    reason,
  ]);
  return rows[0]!.n as number;
}

/** Resolves once the account key has used up its attempts (every one reserved), or after 10 s. */
async function accountSpent(username: string) {
  for (let i = 0; i < 1000; i++) {
    const { rows } = await database.admin('select failures from login_throttle where key = $1', [accountKey(username)]);
    if (Number(rows[0]?.failures ?? 0) >= THROTTLE.accountLimit) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** An invited user as the admin service leaves one: no password yet (the unusable placeholder). */
async function invited(approval: 'approved' | 'pending' = 'approved', agency: { id: string; slug: string } = police) {
  const [row] = await t.deps.db
    .insert(users)
    .values({ username: `invited-${randomUUID().slice(0, 8)}@${agency.slug}`, agencyId: agency.id, role: 'officer', passwordHash: '!', approval })
    .returning();
  return row!;
}

describe('the throttle counts before it checks', () => {
  it('12 parallel wrong guesses for one user on /oauth/token: exactly 5 are checked, 7 answered 429; the right password then too', async () => {
    const user = await createUser(t.deps, police, 'officer');
    const { result, verifications } = await counted(() => Promise.all(Array.from({ length: 12 }, () => login(user.username, WRONG))));
    expect(verifications).toBe(THROTTLE.accountLimit);
    expect(statuses(result)).toEqual([...Array(5).fill(400), ...Array(7).fill(429)]);
    for (const r of result.filter((a) => a.status === 429)) {
      expect(r.body).toEqual({ error: 'temporarily_unavailable', error_description: expect.any(String) });
      expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
      expect(r.body.access_token).toBeUndefined();
    }
    const right = await counted(() => login(user.username, TEST_PASSWORD));
    expect(right.result.status).toBe(429);
    expect(right.verifications).toBe(0);
    expect(await denials('token.issue', 'throttled')).toBeGreaterThanOrEqual(8);
  });

  it('12 parallel console sign-ins for one user (11 wrong, the right one sent once the limit is reached): 5 checked, no session', async () => {
    const user = await createUser(t.deps, police, 'officer');
    // Each sign-in comes from its own browser: its own session cookie and CSRF token from the form.
    const browsers = await Promise.all(
      Array.from({ length: 12 }, async () => {
        const agent = request.agent(server);
        const page = await agent.get('/sign-in');
        const csrf = /name="_csrf" value="([^"]+)"/.exec(page.text)?.[1];
        expect(csrf).toBeDefined();
        return { agent, csrf: csrf! };
      }),
    );
    const signIn = (b: (typeof browsers)[number], password: string) =>
      b.agent.post('/sign-in').type('form').send({ _csrf: b.csrf, username: user.username, password });
    const { result, verifications } = await counted(async () => {
      const wrong = browsers.slice(0, 11).map((b) => signIn(b, WRONG).then((r) => r));
      // Still while the wrong guesses are being checked: the right one is refused, not checked.
      await accountSpent(user.username);
      const right = await signIn(browsers[11]!, TEST_PASSWORD);
      return { wrong: await Promise.all(wrong), right };
    });
    expect(verifications).toBe(THROTTLE.accountLimit);
    expect(statuses(result.wrong)).toEqual([...Array(5).fill(400), ...Array(6).fill(429)]);
    expect(result.right.status).toBe(429);
    expect(result.right.text).toContain('Too many failed attempts');
    // No session was signed in: the home page still sends every browser to sign in.
    for (const b of browsers) expect((await b.agent.get('/')).headers.location).toMatch(/^\/sign-in/);
  });

  it('30 parallel /oauth/token attempts from one address with different usernames: exactly 20 are checked, 10 answered 429', async () => {
    const names = Array.from({ length: 30 }, (_, i) => `nobody-${i}-${randomUUID().slice(0, 6)}@${police.slug}`);
    const { result, verifications } = await counted(() => Promise.all(names.map((n) => login(n, WRONG))));
    expect(verifications).toBe(THROTTLE.addressLimit);
    expect(statuses(result)).toEqual([...Array(20).fill(400), ...Array(10).fill(429)]);
  });

  it('a locked address spends none of the accounts it names, and its answer costs no verification', async () => {
    const user = await createUser(t.deps, police, 'officer');
    await Promise.all(Array.from({ length: THROTTLE.addressLimit }, (_, i) => login(`nobody-${i}@${police.slug}`, WRONG)));
    const { result, verifications } = await counted(() => login(user.username, TEST_PASSWORD));
    expect(result.status).toBe(429);
    expect(verifications).toBe(0);
    const { rows } = await database.admin('select failures from login_throttle where key = $1', [accountKey(user.username)]);
    expect(rows).toEqual([]);
  });

  it('12 parallel enrolment-code guesses for one invited user: exactly 5 are checked, 7 answered 429; the right code then too', async () => {
    const user = await invited();
    const code = await issueEnrolmentCode(t.deps.db, user.id);
    const guess = (enrolmentCode: string) =>
      request(server).post('/oauth/enrol').send({ username: user.username, enrolment_code: enrolmentCode, password: 'a new password, long enough' });
    const { result, verifications } = await counted(() => Promise.all(Array.from({ length: 12 }, () => guess(ENROL_CODE_SHAPE()))));
    expect(verifications).toBe(THROTTLE.accountLimit);
    expect(statuses(result)).toEqual([...Array(5).fill(400), ...Array(7).fill(429)]);
    expect((await guess(code)).status).toBe(429);
    expect(await denials('mfa.enrol', 'throttled')).toBeGreaterThanOrEqual(8);
    // Nothing was set: the user still has no password and no second factor.
    const [row] = await t.deps.db.select().from(users).where(eq(users.id, user.id));
    expect(row!.passwordHash).toBe('!');
    expect(row!.totpSecretEnc).toBeNull();
  });

  it('12 parallel password guesses at re-enrolment after a second-factor reset: exactly 5 are checked', async () => {
    const user = await createUser(t.deps, police, 'officer');
    const code = await issueEnrolmentCode(t.deps.db, user.userId);
    const { result, verifications } = await counted(() =>
      Promise.all(
        Array.from({ length: 12 }, () => request(server).post('/oauth/enrol').send({ username: user.username, enrolment_code: code, password: WRONG })),
      ),
    );
    expect(verifications).toBe(THROTTLE.accountLimit);
    expect(statuses(result)).toEqual([...Array(5).fill(400), ...Array(7).fill(429)]);
    expect((await request(server).post('/oauth/enrol').send({ username: user.username, enrolment_code: code, password: TEST_PASSWORD })).status).toBe(429);
  });

  it('12 parallel wrong first TOTP codes at enrolment confirmation: at most 5 are checked, 7 answered 429', async () => {
    const user = await createUser(t.deps, police, 'officer');
    const code = await issueEnrolmentCode(t.deps.db, user.userId);
    const start = await request(server).post('/oauth/enrol').send({ username: user.username, enrolment_code: code, password: TEST_PASSWORD });
    expect(start.status).toBe(200);
    const before = await denials('mfa.confirm', 'otp-invalid');
    const wrong = totpCode(start.body.totp_secret as string, Date.now() + 10 * 60_000); // a valid code, but not for now
    const answers = await Promise.all(
      Array.from({ length: 12 }, () => request(server).post('/oauth/enrol/confirm').send({ username: user.username, enrolment_code: code, otp: wrong })),
    );
    expect(statuses(answers)).toEqual([...Array(5).fill(400), ...Array(7).fill(429)]);
    expect((await denials('mfa.confirm', 'otp-invalid')) - before).toBe(THROTTLE.accountLimit);
  });
});

describe('legitimate twins', () => {
  it('the right password alone signs in, at the cost of one verification', async () => {
    const user = await createUser(t.deps, police, 'officer');
    const { result, verifications } = await counted(() => login(user.username, TEST_PASSWORD));
    expect(result.status, JSON.stringify(result.body)).toBe(200);
    expect(verifications).toBe(1);
  });

  it('a user who failed 4 times then succeeds is cleared: 4 more failures still leave the right password working', async () => {
    const user = await createUser(t.deps, police, 'officer');
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < THROTTLE.accountLimit - 1; i++) expect((await login(user.username, WRONG)).status).toBe(400);
      expect((await login(user.username, TEST_PASSWORD)).status).toBe(200);
      const { rows } = await database.admin('select failures from login_throttle where key = $1', [accountKey(user.username)]);
      expect(rows).toEqual([]);
    }
  });

  it('parallel sign-ins of many people behind one address do not use up its attempts (a success gives its attempt back)', async () => {
    const people = await Promise.all(Array.from({ length: THROTTLE.addressLimit + 5 }, () => createUser(t.deps, police, 'officer')));
    // Five at a time: attempts in flight count against the address until they are answered.
    for (let i = 0; i < people.length; i += 5) {
      const answers = await Promise.all(people.slice(i, i + 5).map((p) => login(p.username, TEST_PASSWORD)));
      expect(statuses(answers)).toEqual(Array(5).fill(200));
    }
    // The address is not spent: a mistyped password is still checked (400), not refused (429).
    expect((await login(people[0]!.username, WRONG)).status).toBe(400);
  });

  it('an enrolment with a too-short new password gives its attempt back: the user corrects it and enrols', async () => {
    // Into the gateway's own agency, where the operator's code alone enrols.
    const user = await invited('approved', await createAgency(t.deps.db, 'gateway'));
    const code = await issueEnrolmentCode(t.deps.db, user.id);
    for (let i = 0; i < THROTTLE.accountLimit; i++) {
      const short = await request(server).post('/oauth/enrol').send({ username: user.username, enrolment_code: code, password: 'short' });
      expect(short.status).toBe(400);
      expect(short.body.error).toBe('invalid_request');
    }
    const ok = await request(server).post('/oauth/enrol').send({ username: user.username, enrolment_code: code, password: 'a new password, long enough' });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
  });
});

describe('equal answers: every failed sign-in costs exactly one argon2id verification', () => {
  const kinds: { name: string; attempt: () => Promise<{ username: string; password: string; otp?: string }> }[] = [
    { name: 'unknown username', attempt: async () => ({ username: `nobody-${randomUUID().slice(0, 8)}@${police.slug}`, password: WRONG }) },
    { name: 'invited user (no password yet)', attempt: async () => ({ username: (await invited()).username, password: WRONG }) },
    { name: 'pending approval', attempt: async () => ({ username: (await invited('pending')).username, password: WRONG }) },
    {
      name: 'client service user',
      attempt: async () => {
        const { publicKey } = await generateKeyPair('ES256', { extractable: true });
        const clientId = `cad-${randomUUID().slice(0, 8)}`;
        await registerClient(t.deps.db, { clientId, agencyId: police.id, role: 'officer', jwks: { keys: [{ ...(await exportJWK(publicKey)), kid: 'k1' }] } });
        return { username: serviceUsername(clientId), password: WRONG };
      },
    },
    {
      name: 'disabled user (right password)',
      attempt: async () => {
        const user = await createUser(t.deps, police, 'officer');
        await t.deps.db.update(users).set({ disabledAt: new Date() }).where(eq(users.id, user.userId));
        return { username: user.username, password: TEST_PASSWORD };
      },
    },
    {
      name: 'user of a disabled agency (right password)',
      attempt: async () => {
        const agency = await createAgency(t.deps.db, 'hospital');
        const user = await createUser(t.deps, agency, 'clinician');
        await t.deps.db.update(agencies).set({ disabledAt: new Date() }).where(eq(agencies.id, agency.id));
        return { username: user.username, password: TEST_PASSWORD };
      },
    },
    { name: 'wrong password', attempt: async () => ({ username: (await createUser(t.deps, police, 'officer')).username, password: WRONG }) },
    {
      name: 'right password, wrong one-time code',
      attempt: async () => {
        const user = await createUser(t.deps, police, 'officer');
        const code = await issueEnrolmentCode(t.deps.db, user.userId);
        const start = await request(server).post('/oauth/enrol').send({ username: user.username, enrolment_code: code, password: TEST_PASSWORD });
        const secret = start.body.totp_secret as string;
        const confirm = await request(server)
          .post('/oauth/enrol/confirm')
          .send({ username: user.username, enrolment_code: code, otp: totpCode(secret) });
        expect(confirm.status).toBe(200);
        return { username: user.username, password: TEST_PASSWORD, otp: totpCode(secret, Date.now() + 10 * 60_000) };
      },
    },
  ];

  it.each(kinds)('$name: one verification, the same invalid_grant answer', async ({ attempt }) => {
    const { username, password, otp } = await attempt();
    const { result, verifications } = await counted(() => login(username, password, otp));
    expect(verifications).toBe(1);
    expect(result.status).toBe(400);
    expect(result.body).toEqual({ error: 'invalid_grant', error_description: 'The credentials are not valid.' });
  });

  it('a throttled attempt costs none: the lock is keyed by the submitted username and address, so it tells nothing about the account', async () => {
    const name = `nobody-${randomUUID().slice(0, 8)}@${police.slug}`;
    for (let i = 0; i < THROTTLE.accountLimit; i++) await login(name, WRONG);
    const { result, verifications } = await counted(() => login(name, WRONG));
    expect(result.status).toBe(429);
    expect(verifications).toBe(0);
  });

  it('the count is the metric tiergate_password_verifications_total', async () => {
    const metrics = createMetrics(t.deps.db);
    try {
      const read = async () => (await metrics.registry.getSingleMetric('tiergate_password_verifications_total')!.get()).values[0]!.value;
      const before = await read();
      await login(`nobody-${randomUUID().slice(0, 8)}@${police.slug}`, WRONG);
      expect((await read()) - before).toBe(1);
    } finally {
      metrics.close();
    }
  });
});
