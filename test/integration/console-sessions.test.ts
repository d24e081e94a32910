import { createHash, createHmac, randomBytes, randomUUID } from 'node:crypto';
import { decodeJwt } from 'jose';
import request from 'supertest';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { issueEnrolmentCode } from '../../src/auth/enrolment.js';
import { openSecret, sealSecret } from '../../src/auth/keys.js';
import { totpCode } from '../../src/auth/totp.js';
import { sessionCookieSecret, sessionPayloadKey } from '../../src/console/session.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { openTestDatabase, type TestDatabase } from '../helpers/db.js';
import { bearer, createAgency, createUser, TEST_PASSWORD, type TestUser } from '../helpers/factories.js';

// Console sessions as an attacker with a copy of the database, a stranger and an operator see
// them: nothing in a row signs anyone in, strangers leave no rows, a session has an absolute
// lifetime, and an MFA reset, a role change or a disable ends the user's sessions and tokens.

const KEK = randomBytes(32).toString('base64');
let database: TestDatabase;
let t: TestApp;
/** Tokens live 60 s here, so every console request re-issues one (less than 5 minutes left). */
let shortTokens: TestApp;
let police: Awaited<ReturnType<typeof createAgency>>;
let gateway: Awaited<ReturnType<typeof createAgency>>;
let operator: TestUser;
let auditor: TestUser;

beforeAll(async () => {
  database = await openTestDatabase();
  t = await createTestApp(database.app, { env: { KEY_ENCRYPTION_KEY: KEK } });
  shortTokens = await createTestApp(database.app, { env: { KEY_ENCRYPTION_KEY: KEK, TOKEN_TTL_SECONDS: '60' } });
  police = await createAgency(t.deps.db, 'police');
  gateway = await createAgency(t.deps.db, 'gateway');
  operator = await createUser(t.deps, gateway, 'admin');
  auditor = await createUser(t.deps, gateway, 'compliance_officer');
});
afterAll(() => database?.close());
beforeEach(() => database.admin('delete from login_throttle'));

const rows = async () => (await database.admin('select * from console_sealed_sessions')).rows;
const rowCount = async () => Number((await database.admin('select count(*)::int as n from console_sealed_sessions')).rows[0]!.n);
const csrfOf = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)![1]!;
const sidOf = (res: request.Response) => {
  const cookie = ([] as string[]).concat(res.headers['set-cookie'] ?? []).find((c) => c.startsWith('tiergate.sid='));
  return decodeURIComponent(cookie!.split(';')[0]!.slice('tiergate.sid='.length)).slice(2).split('.')[0]!;
};
const hashOf = (sid: string) => createHash('sha256').update(sid).digest('base64url');
/** The cookie express-session would set for `sid`, signed with the gateway's own secret. */
const cookieFor = (app: TestApp, sid: string) =>
  `tiergate.sid=${encodeURIComponent(`s:${sid}.${createHmac('sha256', sessionCookieSecret(app.deps.config)).update(sid).digest('base64').replace(/=+$/, '')}`)}`;
/** What the gateway, holding the key-encryption key, reads in a row (the test holds it too). */
const opened = async (app: TestApp, sid: string) => {
  const [row] = (await database.admin('select sealed from console_sealed_sessions where sid_hash = $1', [hashOf(sid)])).rows;
  return JSON.parse(openSecret(String(row!.sealed), sessionPayloadKey(app.deps.config), sid)) as { token: string };
};

/** Signs in through the console's own form; returns the agent (with its cookies) and the session id. */
async function signIn(app: TestApp, username: string, password = TEST_PASSWORD) {
  const agent = request.agent(app.app);
  const form = await agent.get('/sign-in').expect(200);
  const res = await agent
    .post('/sign-in')
    .type('form')
    .send({ _csrf: csrfOf(form.text), username, password });
  expect(res.status, res.text).toBe(303);
  expect(res.headers.location).toBe('/');
  return { agent, sid: sidOf(res) };
}
const signedIn = async (agent: ReturnType<typeof request.agent>) => (await agent.get('/')).status === 200;

describe('console sessions: a copy of the database signs no one in', () => {
  it('keeps neither the bearer token nor the session id in any column after sign-in, and a row’s key replayed as a cookie is no session', async () => {
    const clerk = await createUser(t.deps, police, 'records_staff');
    const { agent, sid } = await signIn(t, clerk.username);
    expect(await signedIn(agent)).toBe(true);
    // The token the session holds is a real one: it works on the API.
    const { token } = await opened(t, sid);
    expect((await request(t.app).get(`/v1/subjects/${randomUUID()}`).set(bearer({ token }))).status).toBe(404);

    const stored = JSON.stringify(await rows());
    for (const secret of [token, token.split('.')[2]!, decodeJwt(token).jti!, sid]) expect(stored).not.toContain(secret);
    const [row] = (await database.admin('select * from console_sealed_sessions where sid_hash = $1', [hashOf(sid)])).rows;
    expect(row).toMatchObject({ user_id: clerk.userId });

    // The real id, signed with the gateway's own cookie secret, is the session; the row's key is not.
    expect((await request(t.app).get('/').set('Cookie', cookieFor(t, sid))).status).toBe(200);
    const replayed = await request(t.app)
      .get('/')
      .set('Cookie', cookieFor(t, String(row!.sid_hash)));
    expect(replayed.status).toBe(303);
    expect(replayed.headers.location).toBe('/sign-in');
    // A row moved under another session's key does not open: it is no session either.
    const other = await signIn(t, (await createUser(t.deps, police, 'records_staff')).username);
    await database.admin('update console_sealed_sessions set sealed = (select sealed from console_sealed_sessions where sid_hash = $1) where sid_hash = $2', [
      hashOf(sid),
      hashOf(other.sid),
    ]);
    expect(await signedIn(other.agent)).toBe(false);
    expect(await signedIn(agent)).toBe(true);
  });

  it('keeps neither the TOTP secret, nor a recovery code, nor the enrolment code in any column during enrolment, and the row goes when it is done', async () => {
    const user = await createUser(t.deps, police, 'records_staff');
    const code = await issueEnrolmentCode(t.deps.db, user.userId);
    const agent = request.agent(t.app);
    const form = await agent.get('/enrol').expect(200);
    const started = await agent
      .post('/enrol')
      .type('form')
      .send({ _csrf: csrfOf(form.text), username: user.username, enrolment_code: code, password: TEST_PASSWORD });
    expect(started.status, started.text).toBe(303);
    expect(started.headers.location).toBe('/enrol/confirm');
    const page = await agent.get('/enrol/confirm').expect(200);
    const secret = /class="console-secret">([^<]+)</.exec(page.text)![1]!.trim();
    const recovery = [...page.text.matchAll(/<li><code>([^<]+)<\/code><\/li>/g)].map((m) => m[1]!);
    expect(recovery).toHaveLength(10);

    expect(await rowCount()).toBeGreaterThan(0);
    const stored = JSON.stringify(await rows()).toLowerCase();
    for (const s of [secret, ...recovery, code, sidOf(started)]) expect(stored).not.toContain(s.toLowerCase());

    const done = await agent
      .post('/enrol/confirm')
      .type('form')
      .send({ _csrf: csrfOf(page.text), otp: totpCode(secret) });
    expect(done.status, done.text).toBe(303);
    expect(done.headers.location).toBe('/sign-in?ended=enrolled');
    expect((await database.admin('select 1 from console_sealed_sessions where sid_hash = $1', [hashOf(sidOf(started))])).rows).toHaveLength(0);
  });
});

describe('console sessions: no state for strangers', () => {
  it('stores no row and sets no session cookie for 200 cookieless visits to the sign-in and enrolment pages', async () => {
    const before = await rowCount();
    for (let i = 0; i < 200; i++) {
      const res = await request(t.app).get(i % 2 ? '/enrol' : '/sign-in');
      expect(res.status).toBe(200);
      expect(String(res.headers['set-cookie'] ?? '')).not.toContain('tiergate.sid=');
      expect(String(res.headers['set-cookie'] ?? '')).toContain('tiergate.csrf=');
    }
    expect(await rowCount()).toBe(before);
  });

  it('refuses and logs a forged sign-in (no token, or a token without its cookie), and signs in with the token and its cookie', async () => {
    const clerk = await createUser(t.deps, police, 'records_staff');
    const before = await rowCount();
    const noToken = await request(t.app).post('/sign-in').type('form').send({ username: clerk.username, password: TEST_PASSWORD });
    expect(noToken.status).toBe(403);
    expect(noToken.text).toContain('This form could not be accepted');
    const form = await request(t.app).get('/sign-in');
    const noCookie = await request(t.app)
      .post('/sign-in')
      .type('form')
      .send({ _csrf: csrfOf(form.text), username: clerk.username, password: TEST_PASSWORD });
    expect(noCookie.status).toBe(403);
    const { rows: logged } = await database.admin(
      `select action, decision, reason from access_log where reason = 'csrf-token-invalid' and detail->>'path' = '/sign-in' order by seq desc limit 2`,
    );
    expect(logged).toEqual([
      { action: 'authenticate', decision: 'deny', reason: 'csrf-token-invalid' },
      { action: 'authenticate', decision: 'deny', reason: 'csrf-token-invalid' },
    ]);
    // Nobody was signed in, and no token was issued for the forged posts.
    expect(await rowCount()).toBe(before);
    const { rows: issued } = await database.admin(`select 1 from access_log where action = 'token.issue' and actor_user_id = $1`, [clerk.userId]);
    expect(issued).toHaveLength(0);

    const { agent } = await signIn(t, clerk.username);
    expect(await signedIn(agent)).toBe(true);
    expect(await rowCount()).toBe(before + 1);
  });

  it('binds the token to the session once signed in: the stranger’s token from before the sign-in no longer passes', async () => {
    const clerk = await createUser(t.deps, police, 'records_staff');
    const agent = request.agent(t.app);
    const form = await agent.get('/sign-in');
    const before = csrfOf(form.text);
    await agent.post('/sign-in').type('form').send({ _csrf: before, username: clerk.username, password: TEST_PASSWORD }).expect(303);
    // The cookie still holds the stranger's token; a post with it is refused and the session stays.
    expect((await agent.post('/sign-out').type('form').send({ _csrf: before })).status).toBe(403);
    expect(await signedIn(agent)).toBe(true);
    const home = await agent.get('/');
    expect(
      (
        await agent
          .post('/sign-out')
          .type('form')
          .send({ _csrf: csrfOf(home.text) })
      ).headers.location,
    ).toBe('/sign-in?ended=signed-out');
    expect(await signedIn(agent)).toBe(false);
  });

  it('keeps at most five sessions per user: a sixth sign-in ends the least recently used', async () => {
    const clerk = await createUser(t.deps, police, 'records_staff');
    const sessions = [];
    for (let i = 0; i < 6; i++) sessions.push(await signIn(t, clerk.username));
    expect(Number((await database.admin('select count(*)::int as n from console_sealed_sessions where user_id = $1', [clerk.userId])).rows[0]!.n)).toBe(5);
    expect(await signedIn(sessions[0]!.agent)).toBe(false);
    for (const s of sessions.slice(1)) expect(await signedIn(s.agent)).toBe(true);
  });
});

describe('console sessions: an absolute lifetime besides the idle one', () => {
  /** Ten minutes pass without a request: the row's times move back (the server's clock stays). */
  const tenMinutesPass = (sid: string) =>
    database.admin(
      `update console_sealed_sessions set last_seen_at = last_seen_at - interval '10 minutes', authenticated_at = authenticated_at - interval '10 minutes' where sid_hash = $1`,
      [hashOf(sid)],
    );

  it('lasts through an hour of work, its re-issued tokens keeping the time of the sign-in', async () => {
    const clerk = await createUser(shortTokens.deps, police, 'records_staff');
    const { agent, sid } = await signIn(shortTokens, clerk.username);
    const first = await opened(shortTokens, sid);
    for (let i = 0; i < 6; i++) {
      await tenMinutesPass(sid);
      expect((await agent.get('/')).status).toBe(200);
    }
    const [row] = (
      await database.admin(`select extract(epoch from authenticated_at) * 1000 as at from console_sealed_sessions where sid_hash = $1`, [hashOf(sid)])
    ).rows;
    const { token } = await opened(shortTokens, sid);
    expect(token).not.toBe(first.token);
    // The token now held continues the sign-in of an hour ago, not the moment it was issued.
    expect(Math.abs((decodeJwt(token).auth_time as number) * 1000 - Number(row!.at))).toBeLessThan(2);
    expect(Date.now() - Number(row!.at)).toBeGreaterThan(59 * 60_000);
    const { rows: issued } = await database.admin(`select 1 from access_log where action = 'token.issue' and decision = 'allow' and actor_user_id = $1`, [
      clerk.userId,
    ]);
    expect(issued.length).toBe(7);
  });

  it('ends a session signed in more than 12 hours ago, however active: its token is revoked and the user signs in again', async () => {
    const clerk = await createUser(t.deps, police, 'records_staff');
    const { agent, sid } = await signIn(t, clerk.username);
    const { token } = await opened(t, sid);
    await database.admin(`update console_sealed_sessions set authenticated_at = now() - interval '12 hours 1 minute' where sid_hash = $1`, [hashOf(sid)]);
    const ended = await agent.get('/');
    expect(ended.status).toBe(303);
    expect(ended.headers.location).toBe('/sign-in?ended=expired');
    expect((await agent.get('/sign-in?ended=expired')).text).toContain('signed in more than 12 hours ago');
    expect((await database.admin('select 1 from console_sealed_sessions where sid_hash = $1', [hashOf(sid)])).rows).toHaveLength(0);
    const { rows: revoked } = await database.admin('select 1 from revoked_tokens where jti = $1', [decodeJwt(token).jti]);
    expect(revoked).toHaveLength(1);
    expect((await request(t.app).get(`/v1/subjects/${randomUUID()}`).set(bearer({ token }))).status).toBe(401);
    const again = await signIn(t, clerk.username);
    expect(await signedIn(again.agent)).toBe(true);
  });

  it('is not lengthened by a row whose sign-in time was moved forward: the token’s own sign-in time counts', async () => {
    const clerk = await createUser(t.deps, police, 'records_staff');
    const { agent, sid } = await signIn(t, clerk.username);
    // An old sign-in (12 h ago) as the token says it, a fresh one as the row says it.
    const old = await t.deps.tokens.issue({
      userId: clerk.userId,
      agency: police.slug,
      agencyKind: police.kind,
      role: 'records_staff',
      amr: ['pwd'],
      authTime: Date.now() - 12 * 3_600_000 - 60_000,
    });
    const key = sessionPayloadKey(t.deps.config);
    const sealed = JSON.parse(
      openSecret(String((await database.admin('select sealed from console_sealed_sessions where sid_hash = $1', [hashOf(sid)])).rows[0]!.sealed), key, sid),
    ) as Record<string, unknown>;
    await database.admin('update console_sealed_sessions set sealed = $1, authenticated_at = now() where sid_hash = $2', [
      sealSecret(JSON.stringify({ ...sealed, token: old }), key, sid),
      hashOf(sid),
    ]);
    expect((await agent.get('/')).headers.location).toBe('/sign-in?ended=expired');
  });
});

describe('console sessions: an MFA reset, a role change or a disable ends the user’s sessions and tokens at once', () => {
  /** The user signed in on the console and holding an API token from the password grant. */
  async function active(role = 'records_staff', agency = police) {
    const user = await createUser(t.deps, agency, role);
    const { agent, sid } = await signIn(t, user.username);
    const grant = await request(t.app).post('/oauth/token').type('form').send({ grant_type: 'password', username: user.username, password: TEST_PASSWORD });
    expect(grant.status, JSON.stringify(grant.body)).toBe(200);
    const token = grant.body.access_token as string;
    // A route the role may use: a record that does not exist (404), or the approvals queue (200).
    const [path, works] = agency.kind === 'gateway' ? ['/v1/audit/approvals', 200] : [`/v1/subjects/${randomUUID()}`, 404];
    const api = async () => (await request(t.app).get(path).set(bearer({ token }))).status;
    expect(await signedIn(agent)).toBe(true);
    expect(await api()).toBe(works);
    return { user, agent, sid, api, path };
  }
  const bystander = () => active();
  /** Why the API refused the requests to `path` (each user's requests go to a path of their own). */
  const refusals = async (path: string) =>
    (await database.admin(`select reason from access_log where action = 'authenticate' and decision = 'deny' and detail->>'path' = $1 order by seq`, [path]))
      .rows;

  it('after an MFA reset the console session and the API token stop working; another user’s go on', async () => {
    const { user, agent, sid, api, path } = await active();
    const other = await bystander();
    const res = await request(t.app).post(`/v1/admin/users/${user.userId}/reset-mfa`).set(bearer(operator));
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect((await database.admin('select 1 from console_sealed_sessions where sid_hash = $1', [hashOf(sid)])).rows).toHaveLength(0);
    expect(await signedIn(agent)).toBe(false);
    expect(await api()).toBe(401);
    expect(await signedIn(other.agent)).toBe(true);
    expect(await other.api()).toBe(404);
    expect(await refusals(path)).toEqual([{ reason: 'sessions_ended' }]);
  });

  it('after a disable the console session and the API token stop working', async () => {
    const { user, agent, sid, api } = await active();
    const other = await bystander();
    expect((await request(t.app).post(`/v1/admin/users/${user.userId}/disable`).set(bearer(operator))).status).toBe(200);
    expect((await database.admin('select 1 from console_sealed_sessions where sid_hash = $1', [hashOf(sid)])).rows).toHaveLength(0);
    expect(await signedIn(agent)).toBe(false);
    expect(await api()).toBe(401);
    expect(await signedIn(other.agent)).toBe(true);
  });

  it('after an approver’s role change is approved (it waits: principle 14) the console session and the API token stop working; signing in again works, with the new role', async () => {
    const { user, agent, api } = await active('compliance_officer', gateway);
    const res = await request(t.app).post(`/v1/admin/users/${user.userId}/role`).set(bearer(operator)).send({ role: 'admin' });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(await signedIn(agent)).toBe(true);
    const decided = await request(t.app).post(`/v1/audit/approvals/${res.body.approvalId}/decision`).set(bearer(auditor)).send({ decision: 'approve' });
    expect(decided.status, JSON.stringify(decided.body)).toBe(200);
    expect(await signedIn(agent)).toBe(false);
    expect(await api()).toBe(401);
    const again = await signIn(t, user.username);
    expect((await again.agent.get('/admin/users')).status).toBe(200);
  });

  it('a partner’s role change ends nothing while it waits, and ends the sessions and tokens once a compliance officer approves it', async () => {
    const { user, agent, api, path } = await active();
    const asked = await request(t.app).post(`/v1/admin/users/${user.userId}/role`).set(bearer(operator)).send({ role: 'dispatcher' });
    expect(asked.status, JSON.stringify(asked.body)).toBe(202);
    expect(asked.body.approvalId).toEqual(expect.any(String));
    expect(await signedIn(agent)).toBe(true);
    expect(await api()).toBe(404);
    const decided = await request(t.app).post(`/v1/audit/approvals/${asked.body.approvalId}/decision`).set(bearer(auditor)).send({ decision: 'approve' });
    expect(decided.status, JSON.stringify(decided.body)).toBe(200);
    expect(await signedIn(agent)).toBe(false);
    expect(await api()).toBe(401);
    // Refused because the user's sessions were ended (checked before the role the token names).
    expect(await refusals(path)).toEqual([{ reason: 'sessions_ended' }]);
  });

  it('refuses a token whose sign-in predates the end of the user’s sessions, even one issued after it (a re-issue), with reason sessions_ended', async () => {
    const { user } = await active();
    expect((await request(t.app).post(`/v1/admin/users/${user.userId}/reset-mfa`).set(bearer(operator))).status).toBe(200);
    const carried = await t.deps.tokens.issue({
      userId: user.userId,
      agency: police.slug,
      agencyKind: police.kind,
      role: 'records_staff',
      amr: ['pwd'],
      authTime: Date.now() - 60_000,
    });
    const path = `/v1/subjects/${randomUUID()}`;
    expect(
      (
        await request(t.app)
          .get(path)
          .set(bearer({ token: carried }))
      ).status,
    ).toBe(401);
    expect(await refusals(path)).toEqual([{ reason: 'sessions_ended' }]);
    // Its twin: a sign-in after the reset is judged as usual.
    const fresh = await t.deps.tokens.issue({ userId: user.userId, agency: police.slug, agencyKind: police.kind, role: 'records_staff', amr: ['pwd'] });
    expect(
      (
        await request(t.app)
          .get(`/v1/subjects/${randomUUID()}`)
          .set(bearer({ token: fresh }))
      ).status,
    ).toBe(404);
  });
});
