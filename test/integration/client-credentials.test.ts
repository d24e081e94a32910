// grant_type=client_credentials with a private_key_jwt assertion (RFC 7523), through HTTP: real
// client keys (jose), the real token endpoint, the real /v1 routes and the real access log.
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { base64url, decodeJwt, exportJWK, exportSPKI, generateKeyPair, importJWK, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLIENT_ASSERTION_TYPE } from '../../src/auth/client-assertion.js';
import { registerClient } from '../../src/auth/clients.js';
import { BadRequest, Conflict } from '../../src/errors/problems.js';
import { logOf as accessLogOf } from '../helpers/assertions.js';
import { createTestApp, TEST_ENV, type TestApp } from '../helpers/app.js';
import { openTestDatabase, type TestDatabase } from '../helpers/db.js';
import { createAgency, createConsent, createEntry, createSubject, createUser } from '../helpers/factories.js';

let database: TestDatabase;
let t: TestApp;
let police: Awaited<ReturnType<typeof createAgency>>;
let hospital: Awaited<ReturnType<typeof createAgency>>;
let cad: TestClient;

const TOKEN_ENDPOINT = `${TEST_ENV.TOKEN_ISSUER}/oauth/token`;
type Alg = 'ES256' | 'EdDSA' | 'RS256';

interface TestClient {
  clientId: string;
  kid: string;
  alg: Alg;
  privateKey: CryptoKey;
  publicJwk: JWK;
  serviceUserId: string;
}

async function makeClient(agency: { id: string }, role: string, alg: Alg = 'ES256'): Promise<TestClient> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const kid = `k-${randomUUID().slice(0, 8)}`;
  const publicJwk = { ...(await exportJWK(publicKey)), kid };
  const clientId = `cad-${randomUUID().slice(0, 8)}`;
  const registered = await registerClient(t.deps.db, { clientId, agencyId: agency.id, role, jwks: { keys: [publicJwk] } });
  return { clientId, kid, alg, privateKey, publicJwk, serviceUserId: registered.serviceUserId };
}

/** A valid assertion for `c`, with any claim or header overridden (undefined removes a claim). */
async function assertion(
  c: TestClient,
  opts: { claims?: Record<string, unknown>; header?: Record<string, unknown>; key?: CryptoKey | Uint8Array } = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const claims: JWTPayload = { iss: c.clientId, sub: c.clientId, aud: TOKEN_ENDPOINT, iat: now, exp: now + 60, jti: randomUUID(), ...opts.claims };
  for (const [k, v] of Object.entries(claims)) if (v === undefined) delete claims[k];
  return new SignJWT(claims).setProtectedHeader({ alg: c.alg, kid: c.kid, ...opts.header } as { alg: string }).sign(opts.key ?? c.privateKey);
}

const tokenRequest = (fields: Record<string, string>, headers: Record<string, string> = {}) =>
  request(t.app).post('/oauth/token').type('form').set(headers).send(fields);

const grant = (clientAssertion: string, extra: Record<string, string> = {}) =>
  tokenRequest({ grant_type: 'client_credentials', client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: clientAssertion, ...extra });

const logOf = (res: { headers: Record<string, string> }) => accessLogOf(database, res);

/** The request was refused as invalid_client, and exactly one deny entry says why. */
async function expectInvalidClient(res: request.Response, reason: string | RegExp) {
  expect(res.status, JSON.stringify(res.body)).toBe(401);
  expect(res.body.error).toBe('invalid_client');
  expect(res.headers['www-authenticate']).toBeDefined();
  expect(res.body.access_token).toBeUndefined();
  const log = await logOf(res);
  expect(log).toHaveLength(1);
  expect(log[0]).toMatchObject({ action: 'token.issue', decision: 'deny' });
  expect(log[0]!.reason).toMatch(reason);
}

/** Puts users on a client's on-behalf-of list directly (the approved state; approvals.test.ts covers the way there). */
const allow = (c: TestClient, ...people: { userId: string }[]) =>
  database.admin('UPDATE clients SET allowed_user_ids = $1::uuid[] WHERE client_id = $2', [people.map((p) => p.userId), c.clientId]);

const search = (token: string) => request(t.app).get('/v1/subjects?name=x&dob=1980-01-01').set('Authorization', `Bearer ${token}`);

beforeAll(async () => {
  database = await openTestDatabase();
  t = await createTestApp(database.app);
  police = await createAgency(t.deps.db, 'police');
  hospital = await createAgency(t.deps.db, 'hospital');
  cad = await makeClient(police, 'records_staff');
});
afterAll(() => database?.close());

describe('registerClient', () => {
  it('creates a service user that can never log in, and the client row', async () => {
    const c = await makeClient(police, 'dispatcher');
    const [user] = (await database.admin('SELECT * FROM users WHERE id = $1', [c.serviceUserId])).rows;
    expect(user).toMatchObject({ username: `client:${c.clientId}`, kind: 'service', role: 'dispatcher', agency_id: police.id, password_hash: '!' });
    const [client] = (await database.admin('SELECT * FROM clients WHERE client_id = $1', [c.clientId])).rows;
    expect(client).toMatchObject({ agency_id: police.id, service_user_id: c.serviceUserId, disabled_at: null });
    // Stored public members only, with the algorithm pinned.
    expect((client!.jwks as { keys: JWK[] }).keys).toEqual([
      { kty: 'EC', crv: 'P-256', x: c.publicJwk.x, y: c.publicJwk.y, kid: c.kid, use: 'sig', alg: 'ES256' },
    ]);

    const login = await tokenRequest({ grant_type: 'password', username: `client:${c.clientId}`, password: '!' });
    expect(login.status).toBe(400);
    expect(login.body.error).toBe('invalid_grant');
  });

  it('refuses private keys, symmetric keys, weak or unknown key types, duplicate kids, and taken ids', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const pub = { ...(await exportJWK(publicKey)), kid: 'a' };
    const base = { clientId: `bad-${randomUUID().slice(0, 8)}`, agencyId: police.id, role: 'records_staff' };
    const weakRsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' });
    const bad: unknown[] = [
      { keys: [{ ...(await exportJWK(privateKey)), kid: 'a' }] },
      { keys: [{ kty: 'oct', k: 'c2VjcmV0', kid: 'a' }] },
      { keys: [{ ...pub, alg: 'HS256' }] },
      { keys: [{ ...pub, use: 'enc' }] },
      { keys: [pub, pub] },
      { keys: [] },
      [pub],
      { keys: [{ ...pub, kid: undefined }] },
      { keys: [{ ...weakRsa, kid: 'a' }] },
      { keys: [{ kty: 'EC', crv: 'P-384', x: pub.x, y: pub.y, kid: 'a' }] },
      { keys: [{ ...pub, x: pub.y }] },
      { keys: [{ kty: 'RSA', n: '!!!', e: 'AQAB', kid: 'a' }] },
    ];
    for (const jwks of bad) await expect(registerClient(t.deps.db, { ...base, jwks }), JSON.stringify(jwks)).rejects.toBeInstanceOf(BadRequest);
    await expect(registerClient(t.deps.db, { ...base, clientId: 'has space', jwks: { keys: [pub] } })).rejects.toBeInstanceOf(BadRequest);
    await expect(registerClient(t.deps.db, { ...base, agencyId: randomUUID(), jwks: { keys: [pub] } })).rejects.toBeInstanceOf(BadRequest);
    await expect(registerClient(t.deps.db, { ...base, clientId: cad.clientId, jwks: { keys: [pub] } })).rejects.toBeInstanceOf(Conflict);
    const [{ n }] = (await database.admin('SELECT count(*)::int AS n FROM users WHERE username = $1', [`client:${base.clientId}`])).rows as [{ n: number }];
    expect(n).toBe(0);
  });
});

describe('POST /oauth/token grant_type=client_credentials', () => {
  it('issues a token for the service user that works on /v1, and logs the client', async () => {
    const res = await grant(await assertion(cad), { client_id: cad.clientId, scope: 'subjects' });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toEqual({ access_token: expect.any(String), token_type: 'Bearer', expires_in: t.deps.tokens.ttlSeconds });
    expect(res.headers['cache-control']).toContain('no-store');
    const claims = decodeJwt(res.body.access_token);
    expect(claims).toMatchObject({
      sub: cad.serviceUserId,
      client_id: cad.clientId,
      agency: police.slug,
      agency_kind: 'police',
      role: 'records_staff',
      amr: ['pop'],
    });
    const [issued] = await logOf(res);
    expect(issued).toMatchObject({
      action: 'token.issue',
      decision: 'allow',
      actor_user_id: cad.serviceUserId,
      actor_client: cad.clientId,
      actor_username: `client:${cad.clientId}`,
    });

    const read = await search(res.body.access_token);
    expect(read.status, JSON.stringify(read.body)).toBe(200);
    const [entry] = await logOf(read);
    expect(entry).toMatchObject({
      action: 'subject.search',
      decision: 'allow',
      actor_user_id: cad.serviceUserId,
      actor_client: cad.clientId,
      actor_role: 'records_staff',
    });
  });

  it.each(['EdDSA', 'RS256'] as const)('accepts %s keys', async (alg) => {
    const c = await makeClient(police, 'records_staff', alg);
    const res = await grant(await assertion(c));
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect((await search(res.body.access_token)).status).toBe(200);
  });

  it('accepts the issuer as audience, alone or in an array', async () => {
    for (const aud of [TEST_ENV.TOKEN_ISSUER, [TEST_ENV.TOKEN_ISSUER, TOKEN_ENDPOINT]]) {
      const res = await grant(await assertion(cad, { claims: { aud } }));
      expect(res.status, JSON.stringify(res.body)).toBe(200);
    }
  });

  it('refuses a replayed assertion', async () => {
    const a = await assertion(cad);
    expect((await grant(a)).status).toBe(200);
    await expectInvalidClient(await grant(a), 'assertion-replayed');
  });

  it('refuses the same jti from the same client even in a different assertion', async () => {
    const jti = randomUUID();
    expect((await grant(await assertion(cad, { claims: { jti } }))).status).toBe(200);
    await expectInvalidClient(await grant(await assertion(cad, { claims: { jti, aud: TEST_ENV.TOKEN_ISSUER } })), 'assertion-replayed');
  });

  const now = () => Math.floor(Date.now() / 1000);
  it.each([
    ['a wrong audience', () => ({ claims: { aud: 'https://other.example/oauth/token' } }), /claim-aud/],
    ['an array audience that also names someone else', () => ({ claims: { aud: [TOKEN_ENDPOINT, 'https://other.example'] } }), 'aud-foreign'],
    ['a missing audience', () => ({ claims: { aud: undefined } }), 'aud-missing'],
    ['iss not equal to sub', () => ({ claims: { sub: 'someone-else' } }), 'claim-sub'],
    ['an expired assertion', () => ({ claims: { iat: now() - 200, exp: now() - 60 } }), 'expired'],
    ['exp too far ahead', () => ({ claims: { exp: now() + 3600 } }), 'lifetime-too-long'],
    ['exp too far after iat', () => ({ claims: { iat: now() - 100, exp: now() + 250 } }), 'lifetime-too-long'],
    ['iat in the future', () => ({ claims: { iat: now() + 120, exp: now() + 180 } }), 'iat-in-future'],
    ['nbf in the future', () => ({ claims: { nbf: now() + 120 } }), 'claim-nbf'],
    ['a missing exp', () => ({ claims: { exp: undefined } }), 'exp-missing'],
    ['a missing iat', () => ({ claims: { iat: undefined } }), 'iat-missing'],
    ['a missing jti', () => ({ claims: { jti: undefined } }), 'jti-missing'],
    ['an empty jti', () => ({ claims: { jti: '' } }), 'jti-invalid'],
    ['an unknown kid', () => ({ header: { kid: 'not-registered' } }), 'kid-unknown'],
    ['no kid', () => ({ header: { kid: undefined } }), 'kid-missing'],
    ['a jku header', () => ({ header: { jku: 'https://attacker.example/jwks.json' } }), 'header-jku-refused'],
    ['an x5u header', () => ({ header: { x5u: 'https://attacker.example/cert.pem' } }), 'header-x5u-refused'],
    ['an access-token typ', () => ({ header: { typ: 'at+jwt' } }), 'typ-refused'],
  ] as const)('refuses %s', async (_name, opts, reason) => {
    await expectInvalidClient(await grant(await assertion(cad, opts() as { claims?: Record<string, unknown>; header?: Record<string, unknown> })), reason);
  });

  it('refuses an assertion signed with a key the client did not register', async () => {
    const other = await generateKeyPair('ES256');
    await expectInvalidClient(await grant(await assertion(cad, { key: other.privateKey })), 'signature-invalid');
  });

  it('refuses an embedded jwk header even when it holds the registered key', async () => {
    await expectInvalidClient(
      await grant(await assertion(cad, { header: { jwk: { kty: 'EC', crv: 'P-256', x: cad.publicJwk.x, y: cad.publicJwk.y } } })),
      'header-jwk-refused',
    );
  });

  it('refuses alg none, with or without a signature', async () => {
    const enc = (o: object) => base64url.encode(JSON.stringify(o));
    const n = Math.floor(Date.now() / 1000);
    const unsigned = `${enc({ alg: 'none', kid: cad.kid })}.${enc({ iss: cad.clientId, sub: cad.clientId, aud: TOKEN_ENDPOINT, iat: n, exp: n + 60, jti: randomUUID() })}`;
    await expectInvalidClient(await grant(`${unsigned}.`), 'assertion-malformed');
    await expectInvalidClient(await grant(`${unsigned}.${base64url.encode('x')}`), 'alg-not-allowed');
  });

  it('refuses HS256 signed with the public key as the HMAC secret', async () => {
    const pem = await exportSPKI((await importJWK(cad.publicJwk, 'ES256', { extractable: true })) as CryptoKey);
    for (const secret of [pem, JSON.stringify(cad.publicJwk)]) {
      const forged = await assertion(cad, { header: { alg: 'HS256' }, key: new TextEncoder().encode(secret) });
      await expectInvalidClient(await grant(forged), 'alg-not-allowed');
    }
  });

  it('refuses an RS256 header on an EC key (algorithm pinned to the key type)', async () => {
    const rsa = await generateKeyPair('RS256');
    await expectInvalidClient(await grant(await assertion(cad, { header: { alg: 'RS256' }, key: rsa.privateKey })), 'alg-not-allowed');
  });

  it('refuses an unknown client', async () => {
    const ghost = { ...cad, clientId: 'no-such-client' };
    await expectInvalidClient(await grant(await assertion(ghost)), 'client-unknown');
  });

  it('refuses a client_id field that is not the assertion issuer', async () => {
    const other = await makeClient(police, 'records_staff');
    await expectInvalidClient(await grant(await assertion(cad), { client_id: other.clientId }), 'client-id-mismatch');
  });

  it('refuses a second authentication method (an Authorization header)', async () => {
    const res = await tokenRequest(
      { grant_type: 'client_credentials', client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: await assertion(cad) },
      { Authorization: `Basic ${Buffer.from(`${cad.clientId}:secret`).toString('base64')}` },
    );
    await expectInvalidClient(res, 'multiple-client-auth-methods');
  });

  it('refuses missing, unknown or malformed fields with invalid_request', async () => {
    const a = await assertion(cad);
    const cases: Record<string, string>[] = [
      { grant_type: 'client_credentials', client_assertion: a },
      { grant_type: 'client_credentials', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:saml2-bearer', client_assertion: a },
      { grant_type: 'client_credentials', client_assertion_type: CLIENT_ASSERTION_TYPE },
      { grant_type: 'client_credentials', client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: a, client_secret: 'x' },
    ];
    for (const fields of cases) {
      const res = await tokenRequest(fields);
      expect(res.status).toBe(400);
      expect(res.body.error).toBe('invalid_request');
    }
    // None of these spent the assertion.
    expect((await grant(a)).status).toBe(200);
  });

  it('refuses a disabled client at the token endpoint and stops its existing tokens at once', async () => {
    const c = await makeClient(police, 'records_staff');
    const issued = await grant(await assertion(c));
    expect(issued.status).toBe(200);
    expect((await search(issued.body.access_token)).status).toBe(200);

    await database.admin('UPDATE clients SET disabled_at = now() WHERE client_id = $1', [c.clientId]);
    await expectInvalidClient(await grant(await assertion(c)), 'client-disabled');
    const read = await search(issued.body.access_token);
    expect(read.status).toBe(401);
    const [denied] = await logOf(read);
    expect(denied).toMatchObject({ action: 'authenticate', decision: 'deny', reason: 'client_disabled' });
  });

  it('refuses a client whose agency is disabled', async () => {
    const agency = await createAgency(t.deps.db, 'police');
    const c = await makeClient(agency, 'records_staff');
    await database.admin('UPDATE agencies SET disabled_at = now() WHERE id = $1', [agency.id]);
    await expectInvalidClient(await grant(await assertion(c)), 'agency-disabled');
  });

  describe('on_behalf_of', () => {
    it('issues a token for a person of the same agency on its list; policy and the log see that user and the client', async () => {
      const officer = await createUser(t.deps, police, 'officer');
      await allow(cad, officer);
      const res = await grant(await assertion(cad), { on_behalf_of: officer.username });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      const claims = decodeJwt(res.body.access_token);
      expect(claims).toMatchObject({
        sub: officer.userId,
        role: 'officer',
        client_id: cad.clientId,
        client_role: 'records_staff',
        agency: police.slug,
        amr: [],
      });
      expect(await logOf(res)).toEqual([
        expect.objectContaining({ action: 'token.issue', decision: 'allow', actor_user_id: officer.userId, actor_client: cad.clientId }),
      ]);

      const read = await search(res.body.access_token);
      expect(read.status, JSON.stringify(read.body)).toBe(200);
      expect(await logOf(read)).toEqual([
        expect.objectContaining({
          action: 'subject.search',
          decision: 'allow',
          actor_user_id: officer.userId,
          actor_username: officer.username,
          actor_role: 'officer',
          actor_client: cad.clientId,
        }),
      ]);
    });

    it('refuses a user of another agency, a disabled user, a service user and an unknown user with invalid_grant', async () => {
      const nurse = await createUser(t.deps, hospital, 'clinician');
      const gone = await createUser(t.deps, police, 'officer');
      await database.admin('UPDATE users SET disabled_at = now() WHERE id = $1', [gone.userId]);
      const other = await makeClient(police, 'records_staff');
      await allow(cad, nurse, gone, { userId: other.serviceUserId });
      for (const username of [nurse.username, gone.username, `client:${other.clientId}`, 'nobody@nowhere']) {
        const res = await grant(await assertion(cad), { on_behalf_of: username });
        expect(res.status, username).toBe(400);
        expect(res.body.error).toBe('invalid_grant');
        const log = await logOf(res);
        expect(log).toEqual([expect.objectContaining({ action: 'token.issue', decision: 'deny', reason: 'on-behalf-of-refused' })]);
      }
    });

    it('stops the delegated token when the client is disabled', async () => {
      const c = await makeClient(police, 'records_staff');
      const officer = await createUser(t.deps, police, 'officer');
      await allow(c, officer);
      const res = await grant(await assertion(c), { on_behalf_of: officer.username });
      expect(res.status).toBe(200);
      await database.admin('UPDATE clients SET disabled_at = now() WHERE client_id = $1', [c.clientId]);
      expect((await search(res.body.access_token)).status).toBe(401);
      // The user's own tokens are unaffected.
      expect((await search(officer.token)).status).toBe(200);
    });
  });
});

// Issue 9 item 5 (SPEC principle 10): a client acting for a user never gets above its own role's
// ceiling, acts only for the users on its approved list, and its reads carry actor_client in the
// events (JSON and CSV) and in the accounting, so they never look like the user's own.
describe('clients acting for users', () => {
  let subject: Awaited<ReturnType<typeof createSubject>>;
  let intermediate: Awaited<ReturnType<typeof createEntry>>;
  let officer: Awaited<ReturnType<typeof createUser>>;
  let compliance: Awaited<ReturnType<typeof createUser>>;
  let dispatch: TestClient;

  beforeAll(async () => {
    const mh = await createAgency(t.deps.db, 'mental_health');
    const clinician = await createUser(t.deps, mh, 'clinician');
    compliance = await createUser(t.deps, await createAgency(t.deps.db, 'gateway'), 'compliance_officer');
    subject = await createSubject(t.deps.db, clinician);
    intermediate = await createEntry(t.deps.db, subject.id, clinician, 'intermediate');
    // The person consented to police agencies seeing the intermediate tier.
    await createConsent(t.deps.db, subject.id, clinician, { kinds: ['police'] });
    officer = await createUser(t.deps, police, 'officer');
    dispatch = await makeClient(police, 'dispatcher');
    await allow(dispatch, officer);
  });

  const read = (token: string) => request(t.app).get(`/v1/subjects/${subject.id}`).set('Authorization', `Bearer ${token}`);

  it('a dispatcher-role client acting on_behalf_of an officer does not read the intermediate tier', async () => {
    // The legitimate twin: the officer's own token reads the intermediate tier under the consent.
    const own = await read(officer.token);
    expect(own.status).toBe(200);
    expect(own.body.access.tier).toBe('intermediate');
    expect(own.text).toContain(intermediate.marker);

    const res = await grant(await assertion(dispatch), { on_behalf_of: officer.username });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(decodeJwt(res.body.access_token)).toMatchObject({ sub: officer.userId, role: 'officer', client_id: dispatch.clientId, client_role: 'dispatcher' });
    const delegated = await read(res.body.access_token);
    expect(delegated.status, delegated.text).toBe(200);
    expect(delegated.body.access.tier).toBe('basic');
    expect(delegated.body.access.withheld).toEqual(['intermediate', 'full']);
    expect(delegated.text).not.toContain(intermediate.marker);
    expect(await logOf(delegated)).toEqual([
      expect.objectContaining({ action: 'subject.read', decision: 'allow', tier: 'basic', actor_user_id: officer.userId, actor_client: dispatch.clientId }),
    ]);
  });

  it('a client not allowed for a user gets invalid_grant (RFC 6749 shape), and one taken off the list stops at once', async () => {
    const other = await createUser(t.deps, police, 'officer');
    const refused = await grant(await assertion(dispatch), { on_behalf_of: other.username });
    expect(refused.status).toBe(400);
    expect(refused.headers['content-type']).toMatch(/^application\/json/);
    expect(refused.headers['cache-control']).toContain('no-store');
    expect(Object.keys(refused.body).sort()).toEqual(['error', 'error_description']);
    expect(refused.body.error).toBe('invalid_grant');
    expect(await logOf(refused)).toEqual([
      expect.objectContaining({ action: 'token.issue', decision: 'deny', reason: 'on-behalf-of-not-allowed', actor_user_id: null }),
    ]);

    // The twin: the listed officer is acted for; taken off the list, the token stops on its next request.
    const ok = await grant(await assertion(dispatch), { on_behalf_of: officer.username });
    expect(ok.status).toBe(200);
    expect((await read(ok.body.access_token)).status).toBe(200);
    await allow(dispatch);
    const after = await read(ok.body.access_token);
    expect(after.status).toBe(401);
    expect(await logOf(after)).toEqual([expect.objectContaining({ action: 'authenticate', decision: 'deny', reason: 'client_user_not_allowed' })]);
    await allow(dispatch, officer);
  });

  it("the events JSON and CSV and the accounting carry actor_client, so the client's reads do not look like the officer's own", async () => {
    const res = await grant(await assertion(dispatch), { on_behalf_of: officer.username });
    const delegated = await read(res.body.access_token);
    expect(delegated.status).toBe(200);
    const requestId = delegated.headers['x-request-id'] as string;

    const events = await request(t.app).get('/v1/audit/events').query({ subject: subject.id }).set('Authorization', `Bearer ${compliance.token}`);
    expect(events.status).toBe(200);
    const event = (events.body.events as { requestId: string; actor: Record<string, unknown> }[]).find((e) => e.requestId === requestId);
    expect(event?.actor).toEqual({ user: officer.username, userId: officer.userId, agency: police.slug, role: 'officer', client: dispatch.clientId });
    const own = (events.body.events as { actor: { client: string | null; userId: string } }[]).filter((e) => e.actor.userId === officer.userId);
    expect(own.some((e) => e.actor.client === null)).toBe(true);

    const csv = await request(t.app).get('/v1/audit/events').query({ subject: subject.id, format: 'csv' }).set('Authorization', `Bearer ${compliance.token}`);
    const [header, ...lines] = csv.text.trim().split('\r\n');
    const column = header!.split(',').indexOf('actor_client');
    expect(column).toBeGreaterThan(0);
    const line = lines.find((l) => l.includes(requestId))!;
    expect(line.split(',')[column]).toBe(dispatch.clientId);

    const accounting = await request(t.app).get(`/v1/audit/subjects/${subject.id}/disclosures`).set('Authorization', `Bearer ${compliance.token}`);
    expect(accounting.status).toBe(200);
    const disclosure = (accounting.body.disclosures as { recipient: Record<string, unknown>; tier: string }[]).find(
      (d) => d.recipient.client === dispatch.clientId,
    );
    expect(disclosure).toMatchObject({ recipient: { userId: officer.userId, client: dispatch.clientId }, tier: 'basic' });
    const accountingCsv = await request(t.app)
      .get(`/v1/audit/subjects/${subject.id}/disclosures`)
      .query({ format: 'csv' })
      .set('Authorization', `Bearer ${compliance.token}`);
    const [h, ...rows] = accountingCsv.text.trim().split('\r\n');
    const col = h!.split(',').indexOf('recipient_client');
    expect(rows.some((r) => r.split(',')[col] === dispatch.clientId)).toBe(true);
  });
});
