// /v1/admin through HTTP: onboarding of agencies, users, machine clients and signing keys by a
// gateway admin, with the real policy, the real access log, the real enrolment and token flows.
import { randomUUID } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, SignJWT } from 'jose';
import request from 'supertest';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CLIENT_ASSERTION_TYPE } from '../../src/auth/client-assertion.js';
import { DEFAULT_PUBLISH_DELAY_SECONDS } from '../../src/auth/keys.js';
import { totpCode } from '../../src/auth/totp.js';
import { logOf as accessLogOf } from '../helpers/assertions.js';
import { createTestApp, TEST_ENV, type TestApp } from '../helpers/app.js';
import { openTestDatabase, type TestDatabase } from '../helpers/db.js';
import { bearer, createAgency, createSubject, createUser, type TestUser } from '../helpers/factories.js';

let database: TestDatabase;
let t: TestApp;
let gateway: Awaited<ReturnType<typeof createAgency>>;
let admin: TestUser;
let compliance: TestUser;
let clinician: TestUser;

const short = () => randomUUID().slice(0, 8);
const SEARCH = '/v1/subjects?name=nobody&dob=1980-01-01';
const PASSWORD = 'a long enough passphrase';

beforeAll(async () => {
  database = await openTestDatabase();
  t = await createTestApp(database.app);
  gateway = await createAgency(t.deps.db, 'gateway');
  admin = await createUser(t.deps, gateway, 'admin');
  compliance = await createUser(t.deps, gateway, 'compliance_officer');
  clinician = await createUser(t.deps, await createAgency(t.deps.db, 'mental_health'), 'clinician');
});
afterAll(() => database?.close());
// Every request comes from 127.0.0.1: start each test with clean login counters.
beforeEach(() => database.admin('delete from login_throttle'));

const as = (u: { token: string }) => ({
  get: (path: string) => request(t.app).get(path).set(bearer(u)),
  post: (path: string, body?: unknown) => {
    const r = request(t.app).post(path).set(bearer(u));
    return body === undefined ? r : r.send(body as object);
  },
});

const logOf = (res: { headers: Record<string, string> }) => accessLogOf(database, res);

/** The one allow entry the action wrote, by the admin. */
async function expectLogged(res: request.Response, action: string) {
  const log = await logOf(res);
  expect(log, JSON.stringify(log)).toHaveLength(1);
  expect(log[0]).toMatchObject({ action, decision: 'allow', actor_user_id: admin.userId, actor_role: 'admin', subject_id: null });
  return log[0]!;
}

/** Row counts of everything onboarding can change, to show that a refused request changed nothing. */
async function snapshot() {
  const { rows } = await database.admin(
    `select (select count(*) from agencies)::int as agencies, (select count(*) from users)::int as users, (select count(*) from clients)::int as clients,
            (select count(*) from signing_keys)::int as keys, (select count(*) from agencies where disabled_at is not null)::int as disabled_agencies,
            (select count(*) from users where disabled_at is not null)::int as disabled_users, (select count(*) from clients where disabled_at is not null)::int as disabled_clients,
            (select string_agg(role, ',' order by id) from users) as roles, (select string_agg(coalesce(enrolment_code_hash, '-'), ',' order by id) from users) as codes`,
  );
  return rows[0];
}

function expectProblem(res: request.Response, status: number) {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({ status, title: expect.any(String), type: expect.stringContaining('/problems/') });
}

async function newAgency(kind: 'police' | 'mental_health' | 'hospital' | 'gateway' = 'police') {
  const slug = `${kind.replace('_', '-')}-${short()}`;
  const res = await as(admin).post('/v1/admin/agencies', { slug, name: `Agency ${slug}`, kind });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as { id: string; slug: string; kind: string };
}

async function invite(agency: string, role: string, username = `u-${short()}@${agency}`) {
  const res = await as(admin).post('/v1/admin/users', { username, agency, role });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as { id: string; username: string; enrolmentCode: string; role: string; approvalId?: string };
}

/** A compliance officer approves an operator's request (SPEC principle 10); returns the decision. */
async function approve(approvalId: string | undefined) {
  expect(approvalId).toEqual(expect.any(String));
  const res = await as(compliance).post(`/v1/audit/approvals/${approvalId}/decision`, { decision: 'approve' });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body as { status: string; approvalCode?: string };
}

/** A machine client's key pair and its public JWK set. */
async function clientKeys() {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  const kid = `k-${short()}`;
  return { kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid }, privateJwk: { ...(await exportJWK(privateKey)), kid } };
}

/** A token through the real client-credentials grant with a private_key_jwt assertion. */
async function clientToken(clientId: string, keys: Awaited<ReturnType<typeof clientKeys>>) {
  const res = await clientGrant(clientId, keys);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.access_token as string;
}

async function clientGrant(clientId: string, keys: Awaited<ReturnType<typeof clientKeys>>) {
  const now = Math.floor(Date.now() / 1000);
  const assertion = await new SignJWT({ iss: clientId, sub: clientId, aud: `${TEST_ENV.TOKEN_ISSUER}/oauth/token`, iat: now, exp: now + 60, jti: randomUUID() })
    .setProtectedHeader({ alg: 'ES256', kid: keys.kid })
    .sign(keys.privateKey);
  const res = await request(t.app)
    .post('/oauth/token')
    .type('form')
    .send({ grant_type: 'client_credentials', client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: assertion });
  return res;
}

describe('admin: agencies', () => {
  it('creates, lists and disables agencies, each action in the access log', async () => {
    const slug = `harbor-${short()}`;
    const created = await as(admin).post('/v1/admin/agencies', { slug, name: 'Harbor Mental Health', kind: 'mental_health' });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body).toMatchObject({ id: expect.any(String), slug, name: 'Harbor Mental Health', kind: 'mental_health', disabledAt: null });
    expect((await expectLogged(created, 'admin.agency.create')).detail).toMatchObject({ agencyId: created.body.id });

    const dup = await as(admin).post('/v1/admin/agencies', { slug, name: 'Again', kind: 'police' });
    expectProblem(dup, 409);

    const list = await as(admin).get('/v1/admin/agencies');
    expect(list.status).toBe(200);
    expect(list.body.agencies).toEqual(expect.arrayContaining([expect.objectContaining({ slug, kind: 'mental_health' })]));
    await expectLogged(list, 'admin.agency.list');

    const disabled = await as(admin).post(`/v1/admin/agencies/${slug}/disable`);
    expect(disabled.status, JSON.stringify(disabled.body)).toBe(200);
    expect(disabled.body).toMatchObject({ slug, disabledAt: expect.any(String) });
    await expectLogged(disabled, 'admin.agency.disable');
    // Disabling again is harmless and keeps the first time.
    const again = await as(admin).post(`/v1/admin/agencies/${slug}/disable`);
    expect(again.body.disabledAt).toBe(disabled.body.disabledAt);
    // A disabled agency takes no new users.
    expectProblem(await as(admin).post('/v1/admin/users', { username: `x-${short()}@${slug}`, agency: slug, role: 'clinician' }), 409);

    const missing = await as(admin).post('/v1/admin/agencies/no-such-agency/disable');
    expectProblem(missing, 404);
  });

  it('refuses to let an admin disable their own agency', async () => {
    const before = await snapshot();
    expectProblem(await as(admin).post(`/v1/admin/agencies/${gateway.slug}/disable`), 409);
    expect(await snapshot()).toEqual(before);
  });
});

describe('admin: users', () => {
  it('invites a user with a one-time enrolment code and an unusable password', async () => {
    const agency = await newAgency('police');
    const res = await as(admin).post('/v1/admin/users', { username: `clerk-${short()}@${agency.slug}`, agency: agency.slug, role: 'records_staff' });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.headers['cache-control']).toContain('no-store');
    expect(res.body).toMatchObject({
      id: expect.any(String),
      agency: agency.slug,
      role: 'records_staff',
      kind: 'person',
      mfaEnrolled: false,
      enrolmentPending: true,
    });
    expect(res.body.enrolmentCode).toMatch(/^[a-z2-7]{5}-[a-z2-7]{5}-[a-z2-7]{5}-[a-z2-7]{5}$/);
    expect(new Date(res.body.enrolmentExpiresAt).getTime()).toBeGreaterThan(Date.now());
    const entry = await expectLogged(res, 'admin.user.invite');
    expect(entry.detail).toMatchObject({ userId: res.body.id, agencyId: agency.id, role: 'records_staff' });
    // The code is never logged, and only its hash is stored.
    expect(JSON.stringify(entry)).not.toContain(res.body.enrolmentCode);
    const { rows } = await database.admin('select password_hash, enrolment_code_hash from users where id = $1', [res.body.id]);
    expect(rows[0]!.password_hash).toBe('!');
    expect(rows[0]!.enrolment_code_hash).not.toContain(res.body.enrolmentCode);
    // No password logs in before enrolment.
    const login = await request(t.app).post('/oauth/token').type('form').send({ grant_type: 'password', username: res.body.username, password: '!' });
    expect(login.status).toBe(400);
    expect(login.body.error).toBe('invalid_grant');
    // The username is taken now.
    expectProblem(await as(admin).post('/v1/admin/users', { username: res.body.username, agency: agency.slug, role: 'officer' }), 409);
  });

  it('lists users without password hashes, TOTP secrets or enrolment codes', async () => {
    const agency = await newAgency('hospital');
    const invited = await invite(agency.slug, 'social_worker');
    const res = await as(admin).get(`/v1/admin/users?agency=${agency.slug}`);
    expect(res.status).toBe(200);
    expect(res.body.users).toEqual([
      expect.objectContaining({ id: invited.id, username: invited.username, role: 'social_worker', agency: agency.slug, enrolmentPending: true }),
    ]);
    await expectLogged(res, 'admin.user.list');
    const all = await as(admin).get('/v1/admin/users');
    expect(all.body.users.map((u: { id: string }) => u.id)).toEqual(expect.arrayContaining([invited.id, admin.userId, clinician.userId]));
    const text = JSON.stringify(all.body);
    for (const secret of ['passwordHash', 'password_hash', 'totpSecret', 'enrolmentCode', 'enrolmentCodeHash', '$argon2', invited.enrolmentCode])
      expect(text).not.toContain(secret);
    expectProblem(await as(admin).get('/v1/admin/users?agency=nope-nope'), 404);
    expectProblem(await as(admin).get('/v1/admin/users?kind=person'), 400);
  });

  it('changes a role only to one the policy defines for the agency kind, and not their own', async () => {
    const agency = await newAgency('police');
    const user = await createUser(t.deps, agency, 'records_staff');
    const res = await as(admin).post(`/v1/admin/users/${user.userId}/role`, { role: 'dispatcher' });
    // A partner's role changes only once a compliance officer approves; the old one stands until then.
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(res.body).toMatchObject({ id: user.userId, role: 'records_staff', pendingRole: 'dispatcher', approvalId: expect.any(String) });
    expect((await expectLogged(res, 'admin.user.role')).detail).toMatchObject({
      userId: user.userId,
      role: 'dispatcher',
      previousRole: 'records_staff',
      approvalId: res.body.approvalId,
    });
    expect((await request(t.app).get(SEARCH).set(bearer(user))).status).toBe(200);
    expectProblem(await as(admin).post(`/v1/admin/users/${user.userId}/role`, { role: 'officer' }), 409);
    await approve(res.body.approvalId);
    // The token issued for the old role stops working on its next request.
    expect((await request(t.app).get(SEARCH).set(bearer(user))).status).toBe(401);

    const before = await snapshot();
    for (const role of ['clinician', 'admin', 'no_such_role']) {
      const bad = await as(admin).post(`/v1/admin/users/${user.userId}/role`, { role });
      expectProblem(bad, 400);
      expect(bad.body.errors).toEqual([{ path: 'role', message: expect.any(String) }]);
    }
    expectProblem(await as(admin).post(`/v1/admin/users/${admin.userId}/role`, { role: 'compliance_officer' }), 409);
    expectProblem(await as(admin).post(`/v1/admin/users/${randomUUID()}/role`, { role: 'officer' }), 404);
    expect(await snapshot()).toEqual(before);
  });

  it('resets a second factor with a new enrolment code', async () => {
    const agency = await newAgency('mental_health');
    const invited = await invite(agency.slug, 'peer_specialist');
    // Not while the invitation waits for a compliance officer.
    expectProblem(await as(admin).post(`/v1/admin/users/${invited.id}/reset-mfa`), 409);
    const { approvalCode } = await approve(invited.approvalId);
    const res = await as(admin).post(`/v1/admin/users/${invited.id}/reset-mfa`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.enrolmentCode).toMatch(/^[a-z2-7]{5}(-[a-z2-7]{5}){3}$/);
    expect(res.body.enrolmentCode).not.toBe(invited.enrolmentCode);
    await expectLogged(res, 'admin.user.reset-mfa');
    // The first code is void; the new one starts enrolment.
    const old = await request(t.app)
      .post('/oauth/enrol')
      .send({ username: invited.username, enrolment_code: invited.enrolmentCode, approval_code: approvalCode, password: PASSWORD });
    expect(old.status).toBe(400);
    // Never enrolled: the new code still needs the approver's half.
    const alone = await request(t.app).post('/oauth/enrol').send({ username: invited.username, enrolment_code: res.body.enrolmentCode, password: PASSWORD });
    expect(alone.status).toBe(400);
    const fresh = await request(t.app)
      .post('/oauth/enrol')
      .send({ username: invited.username, enrolment_code: res.body.enrolmentCode, approval_code: approvalCode, password: PASSWORD });
    expect(fresh.status, JSON.stringify(fresh.body)).toBe(200);
    expectProblem(await as(admin).post(`/v1/admin/users/${admin.userId}/reset-mfa`), 409);
  });
});

describe('admin: machine clients', () => {
  it('registers a client with public keys only, lists it, and refuses private keys', async () => {
    const agency = await newAgency('police');
    const keys = await clientKeys();
    const clientId = `cad-${short()}`;

    const before = await snapshot();
    const privateSet = await as(admin).post('/v1/admin/clients', { clientId, agency: agency.slug, role: 'dispatcher', jwks: { keys: [keys.privateJwk] } });
    expectProblem(privateSet, 400);
    expect(JSON.stringify(privateSet.body)).toContain('private key material');
    expect(JSON.stringify(privateSet.body)).not.toContain(String(keys.privateJwk.d));
    expectProblem(await as(admin).post('/v1/admin/clients', { clientId, agency: agency.slug, role: 'clinician', jwks: { keys: [keys.publicJwk] } }), 400);
    expectProblem(await as(admin).post('/v1/admin/clients', { clientId, agency: 'no-such-agency', role: 'dispatcher', jwks: { keys: [keys.publicJwk] } }), 400);
    expectProblem(
      await as(admin).post('/v1/admin/clients', { clientId: 'bad id', agency: agency.slug, role: 'dispatcher', jwks: { keys: [keys.publicJwk] } }),
      400,
    );
    expectProblem(await as(admin).post('/v1/admin/clients', { clientId, agency: gateway.slug, role: 'admin', jwks: { keys: [keys.publicJwk] } }), 400);
    expect(await snapshot()).toEqual(before);

    const res = await as(admin).post('/v1/admin/clients', { clientId, agency: agency.slug, role: 'dispatcher', jwks: { keys: [keys.publicJwk] } });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body).toMatchObject({
      clientId,
      agency: agency.slug,
      role: 'dispatcher',
      serviceUserId: expect.any(String),
      approval: 'pending',
      approvalId: expect.any(String),
      disabledAt: null,
      keys: [{ kid: keys.kid, kty: 'EC', alg: 'ES256' }],
    });
    expect((await expectLogged(res, 'admin.client.register')).detail).toMatchObject({
      clientId,
      serviceUserId: res.body.serviceUserId,
      agencyId: agency.id,
      approvalId: res.body.approvalId,
    });
    expectProblem(await as(admin).post('/v1/admin/clients', { clientId, agency: agency.slug, role: 'dispatcher', jwks: { keys: [keys.publicJwk] } }), 409);

    const list = await as(admin).get('/v1/admin/clients');
    expect(list.status).toBe(200);
    expect(list.body.clients).toEqual(
      expect.arrayContaining([expect.objectContaining({ clientId, role: 'dispatcher', keys: [expect.objectContaining({ kid: keys.kid })] })]),
    );
    await expectLogged(list, 'admin.client.list');

    // A partner's client gets no token until a compliance officer approves it; then it authenticates
    // with its key through the client-credentials grant.
    expect(await clientGrant(clientId, keys)).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    await approve(res.body.approvalId);
    const token = await clientToken(clientId, keys);
    expect(decodeJwt(token)).toMatchObject({ client_id: clientId, role: 'dispatcher', agency: agency.slug });
    expect((await request(t.app).get(SEARCH).set(bearer({ token }))).status).toBe(200);
  });
});

describe('admin: disabling takes effect on the next request of an existing token', () => {
  it('a user', async () => {
    const user = await createUser(t.deps, await createAgency(t.deps.db, 'police'), 'records_staff');
    expect((await request(t.app).get(SEARCH).set(bearer(user))).status).toBe(200);
    const res = await as(admin).post(`/v1/admin/users/${user.userId}/disable`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ id: user.userId, disabledAt: expect.any(String) });
    await expectLogged(res, 'admin.user.disable');
    const after = await request(t.app).get(SEARCH).set(bearer(user));
    expect(after.status).toBe(401);
    expect((await logOf(after))[0]).toMatchObject({ action: 'authenticate', decision: 'deny', reason: 'user_disabled' });
    // An admin cannot lock themselves out.
    expectProblem(await as(admin).post(`/v1/admin/users/${admin.userId}/disable`), 409);
    expect((await as(admin).get('/v1/admin/agencies')).status).toBe(200);
  });

  it('an agency, for all its users', async () => {
    const agency = await newAgency('hospital');
    const row = { id: agency.id, slug: agency.slug, kind: agency.kind };
    const [a, b] = [await createUser(t.deps, row, 'clinician'), await createUser(t.deps, row, 'social_worker')];
    for (const u of [a, b]) expect((await request(t.app).get(SEARCH).set(bearer(u))).status).toBe(200);
    expect((await as(admin).post(`/v1/admin/agencies/${agency.slug}/disable`)).status).toBe(200);
    for (const u of [a, b]) {
      const res = await request(t.app).get(SEARCH).set(bearer(u));
      expect(res.status).toBe(401);
      expect((await logOf(res))[0]).toMatchObject({ reason: 'agency_disabled' });
    }
  });

  it('a machine client', async () => {
    const agency = await newAgency('police');
    const keys = await clientKeys();
    const clientId = `ehr-${short()}`;
    const registered = await as(admin).post('/v1/admin/clients', { clientId, agency: agency.slug, role: 'records_staff', jwks: { keys: [keys.publicJwk] } });
    expect(registered.status).toBe(201);
    await approve(registered.body.approvalId);
    const token = await clientToken(clientId, keys);
    expect((await request(t.app).get(SEARCH).set(bearer({ token }))).status).toBe(200);
    const res = await as(admin).post(`/v1/admin/clients/${clientId}/disable`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ clientId, disabledAt: expect.any(String) });
    await expectLogged(res, 'admin.client.disable');
    const after = await request(t.app).get(SEARCH).set(bearer({ token }));
    expect(after.status).toBe(401);
    expect((await logOf(after))[0]).toMatchObject({ reason: 'client_disabled' });
    expectProblem(await as(admin).post('/v1/admin/clients/no-such-client/disable'), 404);
  });
});

describe('admin: deny twins and bad input', () => {
  it('refuses every admin endpoint to a clinician and a compliance officer, logs it, changes nothing', async () => {
    const agency = await newAgency('police');
    const target = await createUser(t.deps, agency, 'officer');
    const keys = await clientKeys();
    const endpoints: [string, string, unknown?][] = [
      ['post', '/v1/admin/agencies', { slug: `x-${short()}`, name: 'X', kind: 'police' }],
      ['get', '/v1/admin/agencies'],
      ['post', `/v1/admin/agencies/${agency.slug}/disable`],
      ['post', '/v1/admin/users', { username: `x-${short()}`, agency: agency.slug, role: 'officer' }],
      ['get', '/v1/admin/users'],
      ['post', `/v1/admin/users/${target.userId}/role`, { role: 'dispatcher' }],
      ['post', `/v1/admin/users/${target.userId}/disable`],
      ['post', `/v1/admin/users/${target.userId}/reset-mfa`],
      ['post', '/v1/admin/clients', { clientId: `c-${short()}`, agency: agency.slug, role: 'officer', jwks: { keys: [keys.publicJwk] } }],
      ['get', '/v1/admin/clients'],
      ['post', '/v1/admin/clients/any-client/disable'],
      ['get', '/v1/admin/keys'],
      ['post', '/v1/admin/keys/rotate'],
    ];
    const before = await snapshot();
    for (const who of [clinician, compliance]) {
      for (const [method, path, body] of endpoints) {
        const res = method === 'get' ? await as(who).get(path) : await as(who).post(path, body);
        expectProblem(res, 403);
        const log = await logOf(res);
        expect(log, `${method} ${path}`).toHaveLength(1);
        expect(log[0]).toMatchObject({
          decision: 'deny',
          reason: 'no-rule:manage:Admin',
          actor_user_id: who.userId,
          action: expect.stringMatching(/^admin\./),
        });
      }
    }
    expect(await snapshot()).toEqual(before);
    // Without a token, 401.
    expect((await request(t.app).get('/v1/admin/agencies')).status).toBe(401);
  });

  it('answers bad input with 400 problem+json and changes nothing', async () => {
    const agency = await newAgency('police');
    const keys = await clientKeys();
    const cases: [string, unknown][] = [
      ['/v1/admin/agencies', { slug: 'Bad Slug', name: 'X', kind: 'police' }],
      ['/v1/admin/agencies', { slug: `ok-${short()}`, name: 'X', kind: 'fire_brigade' }],
      ['/v1/admin/agencies', { slug: `ok-${short()}`, name: '', kind: 'police' }],
      ['/v1/admin/agencies', { slug: `ok-${short()}`, name: 'X', kind: 'police', extra: true }],
      ['/v1/admin/agencies', { slug: `ok-${short()}`, kind: 'police' }],
      ['/v1/admin/agencies', []],
      ['/v1/admin/users', { username: 'Has Space', agency: agency.slug, role: 'officer' }],
      ['/v1/admin/users', { username: `client:x-${short()}`, agency: agency.slug, role: 'officer' }],
      ['/v1/admin/users', { username: `u-${short()}`, agency: agency.slug, role: 'officer', password: 'x' }],
      ['/v1/admin/users', { username: `u-${short()}`, agency: 'no-such-agency', role: 'officer' }],
      ['/v1/admin/users', { username: `u-${short()}`, agency: agency.slug, role: 'Officer' }],
      ['/v1/admin/clients', { clientId: `c-${short()}`, agency: agency.slug, role: 'officer', jwks: { keys: [] } }],
      ['/v1/admin/clients', { clientId: `c-${short()}`, agency: agency.slug, role: 'officer', jwks: { keys: [{ ...keys.publicJwk, kid: undefined }] } }],
      ['/v1/admin/clients', { clientId: `c-${short()}`, agency: agency.slug, role: 'officer', jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0', kid: 'h' }] } }],
      [`/v1/admin/users/not-a-uuid/role`, { role: 'officer' }],
      [`/v1/admin/users/${randomUUID()}/role`, { role: 'officer', extra: 1 }],
      ['/v1/admin/users/x/disable', undefined],
      ['/v1/admin/agencies/BAD_SLUG/disable', undefined],
    ];
    const before = await snapshot();
    for (const [path, body] of cases) {
      const res = await as(admin).post(path, body);
      expectProblem(res, 400);
      expect(res.body.detail, path).toEqual(expect.any(String));
      expect(await logOf(res)).toEqual([]);
    }
    const malformed = await request(t.app).post('/v1/admin/agencies').set(bearer(admin)).set('Content-Type', 'application/json').send('{"slug":');
    expectProblem(malformed, 400);
    expect(await snapshot()).toEqual(before);
  });

  it('rejects a role the policy does not define for the agency kind', async () => {
    const police = await newAgency('police');
    const hospital = await newAgency('hospital');
    const before = await snapshot();
    for (const [agency, role] of [
      [police.slug, 'clinician'],
      [police.slug, 'admin'],
      [hospital.slug, 'records_staff'],
      [hospital.slug, 'peer_specialist'],
      [gateway.slug, 'officer'],
    ] as const) {
      const res = await as(admin).post('/v1/admin/users', { username: `u-${short()}@${agency}`, agency, role });
      expectProblem(res, 400);
      expect(res.body.errors).toEqual([{ path: 'role', message: 'unknown role for the agency kind' }]);
    }
    expect(await snapshot()).toEqual(before);
  });

  it('gives an admin no person data', async () => {
    const subject = await createSubject(t.deps.db, clinician);
    const read = await as(admin).get(`/v1/subjects/${subject.id}`);
    expectProblem(read, 403);
    expect(JSON.stringify(read.body)).not.toContain(subject.familyName);
    expect((await logOf(read))[0]).toMatchObject({ action: 'subject.read', decision: 'deny', actor_user_id: admin.userId, subject_id: subject.id });
    expectProblem(await as(admin).get(`/v1/subjects?name=${subject.familyName}&dob=1980-01-01`), 403);
    expectProblem(await as(admin).get(`/v1/subjects/${subject.id}/risk-flags`), 403);
    expectProblem(await as(admin).get('/v1/audit/events'), 403);
  });
});

describe('admin: onboarding end to end', () => {
  it('agency → user → enrolment code → enrol → TOTP → token that works', async () => {
    const agency = await newAgency('police');
    const invited = await invite(agency.slug, 'records_staff', `clerk@${agency.slug}`);
    const { approvalCode } = await approve(invited.approvalId);

    const start = await request(t.app)
      .post('/oauth/enrol')
      .send({ username: invited.username, enrolment_code: invited.enrolmentCode, approval_code: approvalCode, password: PASSWORD });
    expect(start.status, JSON.stringify(start.body)).toBe(200);
    const secret: string = start.body.totp_secret;
    const confirm = await request(t.app)
      .post('/oauth/enrol/confirm')
      .send({ username: invited.username, enrolment_code: invited.enrolmentCode, otp: totpCode(secret) });
    expect(confirm.status, JSON.stringify(confirm.body)).toBe(200);

    // Enrolled: the password alone no longer does; password and the next TOTP code do.
    const noOtp = await request(t.app).post('/oauth/token').type('form').send({ grant_type: 'password', username: invited.username, password: PASSWORD });
    expect(noOtp.status).toBe(400);
    const login = await request(t.app)
      .post('/oauth/token')
      .type('form')
      .send({ grant_type: 'password', username: invited.username, password: PASSWORD, otp: totpCode(secret, Date.now() + 30_000) });
    expect(login.status, JSON.stringify(login.body)).toBe(200);
    expect(decodeJwt(login.body.access_token)).toMatchObject({
      sub: invited.id,
      agency: agency.slug,
      agency_kind: 'police',
      role: 'records_staff',
      amr: ['pwd', 'otp', 'mfa'],
    });
    expect(
      (
        await request(t.app)
          .get(SEARCH)
          .set(bearer({ token: login.body.access_token }))
      ).status,
    ).toBe(200);

    const listed = await as(admin).get(`/v1/admin/users?agency=${agency.slug}`);
    expect(listed.body.users).toEqual([expect.objectContaining({ id: invited.id, mfaEnrolled: true, enrolmentPending: false })]);
  });
});

// Last: it changes which key signs for every test after it.
describe('admin: signing keys', () => {
  it('lists keys without key material, rotates with overlap: published first, old tokens keep verifying', async () => {
    const list = await as(admin).get('/v1/admin/keys');
    expect(list.status).toBe(200);
    await expectLogged(list, 'admin.keys.list');
    expect(list.body.keys.length).toBeGreaterThanOrEqual(1);
    for (const k of list.body.keys) expect(Object.keys(k).sort()).toEqual(['activatesAt', 'alg', 'createdAt', 'kid', 'retireAfter', 'status']);
    const oldKid = decodeProtectedHeader(admin.token).kid;
    expect(list.body.keys).toEqual(expect.arrayContaining([expect.objectContaining({ kid: oldKid, status: 'active' })]));

    const user = await createUser(t.deps, await createAgency(t.deps.db, 'police'), 'records_staff');
    const rotated = await as(admin).post('/v1/admin/keys/rotate');
    expect(rotated.status, JSON.stringify(rotated.body)).toBe(201);
    const newKid: string = rotated.body.kid;
    expect(newKid).not.toBe(oldKid);
    expect(rotated.body.publishDelaySeconds).toBe(DEFAULT_PUBLISH_DELAY_SECONDS);
    expect(new Date(rotated.body.activatesAt).getTime()).toBeGreaterThan(Date.now() + (DEFAULT_PUBLISH_DELAY_SECONDS - 10) * 1000);
    expect(JSON.stringify(rotated.body)).not.toMatch(/"d"|private/i);
    expect((await expectLogged(rotated, 'admin.keys.rotate')).detail).toMatchObject({ kid: newKid, replaced: [oldKid] });

    // Published at once, before it signs.
    const jwks = await request(t.app).get('/.well-known/jwks.json');
    expect(jwks.body.keys.map((k: { kid: string }) => k.kid)).toEqual(expect.arrayContaining([oldKid, newKid]));
    for (const k of jwks.body.keys) expect(k).not.toHaveProperty('d');
    const during = await t.deps.tokens.issue({ userId: user.userId, agency: user.agency, agencyKind: user.kind, role: user.role, amr: ['pwd'] });
    expect(decodeProtectedHeader(during).kid).toBe(oldKid);
    const keysNow = await as(admin).get('/v1/admin/keys');
    expect(keysNow.body.keys).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kid: oldKid, status: 'retiring', retireAfter: expect.any(String) }),
        expect.objectContaining({ kid: newKid, status: 'active' }),
      ]),
    );

    // Once the publish delay has passed (simulated), the new key signs; tokens signed before verify still.
    await database.admin('update signing_keys set activates_at = now() where kid = $1', [newKid]);
    await t.deps.keys.load();
    const after = await t.deps.tokens.issue({ userId: user.userId, agency: user.agency, agencyKind: user.kind, role: user.role, amr: ['pwd'] });
    expect(decodeProtectedHeader(after).kid).toBe(newKid);
    for (const token of [user.token, during, after]) expect((await request(t.app).get(SEARCH).set(bearer({ token }))).status).toBe(200);
    expect((await as(admin).get('/v1/admin/keys')).status).toBe(200);
  });
});
