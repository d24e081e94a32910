import { createHmac, createPublicKey, randomUUID, type JsonWebKey } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, jwtVerify, SignJWT, type JWK, type JWTHeaderParameters } from 'jose';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, TEST_ENV, type TestApp } from '../helpers/app.js';
import { openTestDatabase, type TestDatabase } from '../helpers/db.js';
import { bearer, createAgency, createEntry, createSubject, createUser, TEST_PASSWORD, type TestUser } from '../helpers/factories.js';

// SPEC "Identity": the gateway's own ES256 access tokens, the password grant's RFC 6749 shapes,
// and every way a forged, stale or misplaced token must fail: 401 with WWW-Authenticate, one
// logged denial (action `authenticate`), and nothing disclosed.

let database: TestDatabase;
let t: TestApp;
let clerk: TestUser;
let clinician: TestUser;
let police: Awaited<ReturnType<typeof createAgency>>;
// A person with a full-tier entry the clinician wrote, so that a leak from a record read would show.
let leaky: { id: string };
let leakyMarker: string;
const SEARCH = '/v1/subjects?name=x&dob=1980-01-01';
const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);

beforeAll(async () => {
  database = await openTestDatabase();
  t = await createTestApp(database.app);
  police = await createAgency(t.deps.db, 'police');
  const mh = await createAgency(t.deps.db, 'mental_health');
  clerk = await createUser(t.deps, police, 'records_staff');
  clinician = await createUser(t.deps, mh, 'clinician');
  // A person the search could find, so that a leak would show.
  leaky = await createSubject(t.deps.db, clinician, { givenName: 'Leaky', familyName: 'X', birthDate: '1980-01-01' });
  leakyMarker = (await createEntry(t.deps.db, leaky.id, clinician, 'full')).marker;
});
afterAll(() => database?.close());

async function count(where: string, params: unknown[] = []): Promise<number> {
  const { rows } = await database.admin(`SELECT count(*)::int AS n FROM access_log WHERE ${where}`, params);
  return Number(rows[0]!.n);
}

/** The claims the gateway would issue for `u`, before any tampering. */
function claimsFor(u: TestUser, overrides: Record<string, unknown> = {}) {
  const iat = now();
  return {
    iss: TEST_ENV.TOKEN_ISSUER,
    aud: TEST_ENV.TOKEN_AUDIENCE,
    sub: u.userId,
    jti: randomUUID(),
    iat,
    nbf: iat,
    exp: iat + 900,
    agency: u.agency,
    agency_kind: u.kind,
    role: u.role,
    amr: ['pwd'],
    ...overrides,
  };
}

/** Signs with the gateway's real signing key; header and claims may be changed or dropped (undefined). */
async function mint(opts: { header?: Record<string, unknown>; claims?: Record<string, unknown>; user?: TestUser; key?: CryptoKey } = {}): Promise<string> {
  const { kid, key } = await t.deps.keys.signingKey();
  const header = Object.fromEntries(
    Object.entries({ alg: 'ES256', kid, typ: 'at+jwt', ...opts.header }).filter(([, v]) => v !== undefined),
  ) as JWTHeaderParameters;
  const claims = Object.fromEntries(Object.entries(claimsFor(opts.user ?? clerk, opts.claims)).filter(([, v]) => v !== undefined));
  return new SignJWT(claims).setProtectedHeader(header).sign(opts.key ?? key);
}

/** Signs any header with the real ES256 key, bypassing jose's own header checks (for ES384, crit). */
async function rawSign(header: Record<string, unknown>, claims: Record<string, unknown> = claimsFor(clerk)): Promise<string> {
  const { kid, key } = await t.deps.keys.signingKey();
  const input = `${b64({ kid, typ: 'at+jwt', ...header })}.${b64(claims)}`;
  const sig = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, key, Buffer.from(input));
  return `${input}.${Buffer.from(sig).toString('base64url')}`;
}

async function activeKid(): Promise<string> {
  return (await t.deps.keys.signingKey()).kid;
}

type Attack = { name: string; token: () => Promise<string> | string; reason?: string | RegExp };

/** Sends `Authorization: Bearer <token>` to the search (or `path`) and expects a logged, uninformative 401. */
async function expectRejected(token: string, reason?: string | RegExp, label = '', path = SEARCH) {
  const rid = `atk-${randomUUID()}`;
  const res = await request(t.app).get(path).set('Authorization', `Bearer ${token}`).set('X-Request-Id', rid);
  expect(res.status, `${label}: ${res.text}`).toBe(401);
  expectUnauthorized(res);
  await expectDenyLogged(rid, reason, label);
  return res;
}

function expectUnauthorized(res: request.Response) {
  expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="tiergate"/);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  // The same uninformative body whatever failed: no oracle for a forger, no data.
  const { instance: _instance, ...rest } = res.body as Record<string, unknown>;
  expect(rest).toEqual({
    type: expect.stringMatching(/unauthorized$/),
    title: 'Unauthorized',
    status: 401,
    detail: 'A valid bearer access token is required.',
  });
  expect(res.text).not.toContain('Leaky');
  expect(res.text).not.toContain('subjects"');
}

/** `expectRejected` on the record read of the leaky person: no data, and no read logged as allowed. */
async function expectRecordRejected(token: string, reason: string | RegExp | undefined, label: string) {
  const res = await expectRejected(token, reason, label, `/v1/subjects/${leaky.id}`);
  expect(res.text).not.toContain(leakyMarker);
  expect(await count(`action = 'subject.read' AND subject_id = $1 AND decision = 'allow' AND actor_user_id IS NULL`, [leaky.id])).toBe(0);
}

async function expectDenyLogged(rid: string, reason: string | RegExp | undefined, label: string) {
  const { rows } = await database.admin('SELECT action, decision, reason, actor_user_id FROM access_log WHERE client_request_id = $1', [rid]);
  expect(rows, label).toHaveLength(1);
  expect(rows[0], label).toMatchObject({ action: 'authenticate', decision: 'deny', actor_user_id: null });
  expect(typeof rows[0]!.reason).toBe('string');
  if (reason) expect(rows[0]!.reason, label).toMatch(reason instanceof RegExp ? reason : new RegExp(`^${reason}$`));
}

describe('POST /oauth/token (password grant)', () => {
  it('issues a Bearer token of at most 15 minutes, not cacheable, that works', async () => {
    const res = await request(t.app).post('/oauth/token').type('form').send({ grant_type: 'password', username: clerk.username, password: TEST_PASSWORD });
    expect(res.status, res.text).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual(['access_token', 'expires_in', 'token_type']);
    expect(res.body).toMatchObject({ token_type: 'Bearer', expires_in: 900 });
    expect(res.headers['cache-control']).toMatch(/no-store/);
    expect(res.headers['content-type']).toMatch(/^application\/json/);

    const header = decodeProtectedHeader(res.body.access_token);
    expect(header).toMatchObject({ alg: 'ES256', typ: 'at+jwt', kid: await activeKid() });
    const claims = decodeJwt(res.body.access_token);
    expect(claims).toMatchObject({
      iss: TEST_ENV.TOKEN_ISSUER,
      aud: TEST_ENV.TOKEN_AUDIENCE,
      sub: clerk.userId,
      agency: clerk.agency,
      agency_kind: 'police',
      role: 'records_staff',
    });
    expect(typeof claims.jti).toBe('string');
    expect(claims.exp! - claims.iat!).toBeLessThanOrEqual(900);

    const use = await request(t.app).get(SEARCH).set('Authorization', `Bearer ${res.body.access_token}`);
    expect(use.status).toBe(200);
    expect(await count(`action = 'token.issue' AND decision = 'allow' AND actor_user_id = $1 AND detail->>'jti' = $2`, [clerk.userId, claims.jti])).toBe(1);
  });

  it('accepts a JSON body too', async () => {
    const res = await request(t.app).post('/oauth/token').send({ grant_type: 'password', username: clerk.username, password: TEST_PASSWORD });
    expect(res.status, res.text).toBe(200);
    expect(res.body.token_type).toBe('Bearer');
    expect(res.headers['cache-control']).toMatch(/no-store/);
  });

  it('a wrong password and an unknown user get the identical invalid_grant answer, both logged', async () => {
    const before = await count(`action = 'token.issue' AND decision = 'deny'`);
    const wrong = await request(t.app)
      .post('/oauth/token')
      .type('form')
      .send({ grant_type: 'password', username: clerk.username, password: 'not the password' });
    const unknown = await request(t.app)
      .post('/oauth/token')
      .type('form')
      .send({ grant_type: 'password', username: `nobody-${randomUUID()}@nowhere`, password: TEST_PASSWORD });
    for (const res of [wrong, unknown]) {
      expect(res.status).toBe(400);
      expect(res.body.error).toBe('invalid_grant');
      expect(res.headers['cache-control']).toMatch(/no-store/);
      expect(res.text).not.toContain('access_token');
      expect(res.text).not.toContain(TEST_PASSWORD);
      expect(res.text).not.toContain('not the password');
    }
    expect(unknown.body).toEqual(wrong.body);
    expect(unknown.headers['content-type']).toBe(wrong.headers['content-type']);
    expect(wrong.text).not.toContain(clerk.username);
    expect(await count(`action = 'token.issue' AND decision = 'deny'`)).toBe(before + 2);
    // The log keeps the reason, never the password.
    const { rows } = await database.admin(`SELECT string_agg(row_to_json(a)::text, '') AS s FROM access_log a`);
    expect(String(rows[0]!.s)).not.toContain('not the password');
    expect(String(rows[0]!.s)).not.toContain(TEST_PASSWORD);
  });

  it.each([
    ['no password', { grant_type: 'password', username: 'a@b' }],
    ['no username', { grant_type: 'password', password: TEST_PASSWORD }],
    ['an unknown field', { grant_type: 'password', username: 'a@b', password: TEST_PASSWORD, client_secret: 'x' }],
    ['an empty password', { grant_type: 'password', username: 'a@b', password: '' }],
    ['a malformed otp', { grant_type: 'password', username: 'a@b', password: TEST_PASSWORD, otp: '12ab' }],
    ['no grant_type', { username: 'a@b', password: TEST_PASSWORD }],
  ])('%s → 400 invalid_request', async (_name, body) => {
    for (const send of [(r: request.Test) => r.type('form').send(body), (r: request.Test) => r.send(body)]) {
      const res = await send(request(t.app).post('/oauth/token'));
      expect(res.status, res.text).toBe(400);
      expect(res.body.error).toBe('invalid_request');
      expect(res.headers['cache-control']).toMatch(/no-store/);
      expect(res.text).not.toContain(TEST_PASSWORD);
    }
  });

  it('malformed JSON and a repeated parameter → 400 invalid_request', async () => {
    const json = await request(t.app).post('/oauth/token').set('Content-Type', 'application/json').send('{"grant_type":"password",');
    expect(json.status).toBe(400);
    expect(json.body.error).toBe('invalid_request');
    const repeated = await request(t.app)
      .post('/oauth/token')
      .type('form')
      .send(`grant_type=password&grant_type=password&username=${encodeURIComponent(clerk.username)}&password=${encodeURIComponent(TEST_PASSWORD)}`);
    expect(repeated.status).toBe(400);
    expect(repeated.body.error).toBe('invalid_request');
  });

  it.each(['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:jwt-bearer', 'implicit'])(
    'grant_type=%s → unsupported_grant_type',
    async (grant) => {
      const res = await request(t.app).post('/oauth/token').type('form').send({ grant_type: grant, username: clerk.username, password: TEST_PASSWORD });
      expect(res.status).toBe(400);
      expect(res.body.error).toBe('unsupported_grant_type');
      expect(res.text).not.toContain('access_token');
    },
  );
});

describe('token verification attacks (GET /v1/subjects?name=x&dob=1980-01-01)', () => {
  it('control: a token minted like the gateway does is accepted', async () => {
    const res = await request(t.app)
      .get(SEARCH)
      .set('Authorization', `Bearer ${await mint()}`);
    expect(res.status, res.text).toBe(200);
    const lower = await request(t.app)
      .get(SEARCH)
      .set('Authorization', `bearer ${await mint()}`);
    expect(lower.status).toBe(200);
  });

  const attacks: Attack[] = [
    // Algorithm confusion.
    ...['none', 'None', 'NONE', 'nOnE'].flatMap((alg): Attack[] => [
      {
        name: `alg ${alg}, empty signature`,
        token: async () => `${b64({ alg, typ: 'at+jwt', kid: await activeKid() })}.${b64(claimsFor(clerk))}.`,
        reason: 'token_malformed',
      },
      { name: `alg ${alg}, some signature`, token: async () => `${b64({ alg, typ: 'at+jwt', kid: await activeKid() })}.${b64(claimsFor(clerk))}.AAAA` },
    ]),
    {
      name: 'HS256 keyed with the public key (PEM)',
      token: async () => {
        const kid = await activeKid();
        const jwk = t.deps.keys.jwks().keys.find((k) => k.kid === kid)!;
        const pem = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
        const input = `${b64({ alg: 'HS256', typ: 'at+jwt', kid })}.${b64(claimsFor(clerk))}`;
        return `${input}.${createHmac('sha256', pem).update(input).digest('base64url')}`;
      },
      reason: 'ERR_JOSE_ALG_NOT_ALLOWED',
    },
    {
      name: 'HS256 keyed with the public JWK JSON',
      token: async () => {
        const kid = await activeKid();
        const jwk = t.deps.keys.jwks().keys.find((k) => k.kid === kid)!;
        const input = `${b64({ alg: 'HS256', typ: 'at+jwt', kid })}.${b64(claimsFor(clerk))}`;
        return `${input}.${createHmac('sha256', JSON.stringify(jwk)).update(input).digest('base64url')}`;
      },
      reason: 'ERR_JOSE_ALG_NOT_ALLOWED',
    },
    { name: 'ES384 header on an ES256 signature', token: () => rawSign({ alg: 'ES384' }), reason: 'ERR_JOSE_ALG_NOT_ALLOWED' },
    { name: 'RS256 header on an ES256 signature', token: () => rawSign({ alg: 'RS256' }), reason: 'ERR_JOSE_ALG_NOT_ALLOWED' },
    {
      name: 'control for rawSign: ES256 passes signature, fails only on the typ it lacks',
      token: () => rawSign({ alg: 'ES256', typ: 'JWT' }),
      reason: 'ERR_JWT_CLAIM_VALIDATION_FAILED',
    },
    // Keys the gateway does not hold.
    {
      name: 'unknown kid (attacker key)',
      token: async () => mint({ header: { kid: 'attacker-key' }, key: (await generateKeyPair('ES256')).privateKey }),
      reason: 'kid_unknown',
    },
    {
      name: 'real kid, attacker key',
      token: async () => mint({ key: (await generateKeyPair('ES256')).privateKey }),
      reason: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
    },
    { name: 'missing kid', token: () => mint({ header: { kid: undefined } }), reason: 'kid_missing' },
    { name: 'kid that looks like a path or SQL', token: () => mint({ header: { kid: "../../etc/passwd' OR '1'='1" } }), reason: 'kid_unknown' },
    { name: 'numeric kid', token: () => mint({ header: { kid: 1 } }), reason: 'kid_missing' },
    // Key-pointing headers: refused, never followed (the test harness blocks outbound traffic too).
    { name: 'jku header, validly signed', token: () => mint({ header: { jku: 'https://attacker.example/jwks.json' } }), reason: 'header_jku_refused' },
    { name: 'x5u header, validly signed', token: () => mint({ header: { x5u: 'https://attacker.example/cert.pem' } }), reason: 'header_x5u_refused' },
    { name: 'x5c header, validly signed', token: () => mint({ header: { x5c: ['MIIB'] } }), reason: 'header_x5c_refused' },
    {
      name: 'jwk header with the real public key, validly signed',
      token: async () => {
        const kid = await activeKid();
        const jwk = t.deps.keys.jwks().keys.find((k) => k.kid === kid)!;
        return mint({ header: { jwk: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y } } });
      },
      reason: 'header_jwk_refused',
    },
    {
      name: 'jwk header with an attacker key, signed by it',
      token: async () => {
        const { privateKey, publicKey } = await generateKeyPair('ES256');
        return mint({ header: { jwk: await exportJWK(publicKey), kid: undefined }, key: privateKey });
      },
      reason: 'header_jwk_refused',
    },
    { name: 'unknown crit header', token: () => rawSign({ alg: 'ES256', crit: ['x-tiergate'], 'x-tiergate': 1 }), reason: 'ERR_JOSE_NOT_SUPPORTED' },
    { name: 'b64=false (unencoded payload)', token: () => rawSign({ alg: 'ES256', crit: ['b64'], b64: false }), reason: /^ERR_J(OSE|WS|WT)_/ },
    // Claims.
    { name: 'wrong iss', token: () => mint({ claims: { iss: 'https://attacker.example' } }), reason: 'ERR_JWT_CLAIM_VALIDATION_FAILED' },
    { name: 'wrong aud', token: () => mint({ claims: { aud: 'some-other-api' } }), reason: 'ERR_JWT_CLAIM_VALIDATION_FAILED' },
    { name: 'no aud', token: () => mint({ claims: { aud: undefined } }), reason: 'ERR_JWT_CLAIM_VALIDATION_FAILED' },
    { name: 'expired', token: () => mint({ claims: { iat: now() - 800, nbf: now() - 800, exp: now() - 60 } }), reason: 'ERR_JWT_EXPIRED' },
    { name: 'nbf in the future', token: () => mint({ claims: { nbf: now() + 300 } }), reason: 'ERR_JWT_CLAIM_VALIDATION_FAILED' },
    { name: 'iat in the future', token: () => mint({ claims: { iat: now() + 300, nbf: now(), exp: now() + 900 } }), reason: 'ERR_JWT_CLAIM_VALIDATION_FAILED' },
    {
      name: 'iat older than a token can live',
      token: () => mint({ claims: { iat: now() - 1200, nbf: now() - 1200, exp: now() + 600 } }),
      reason: 'ERR_JWT_EXPIRED',
    },
    { name: 'no exp', token: () => mint({ claims: { exp: undefined } }), reason: 'ERR_JWT_CLAIM_VALIDATION_FAILED' },
    { name: 'no jti', token: () => mint({ claims: { jti: undefined } }), reason: 'ERR_JWT_CLAIM_VALIDATION_FAILED' },
    { name: 'no iat', token: () => mint({ claims: { iat: undefined } }), reason: 'ERR_JWT_CLAIM_VALIDATION_FAILED' },
    { name: 'no role claim', token: () => mint({ claims: { role: undefined } }), reason: 'claim_missing' },
    { name: 'sub of no user', token: () => mint({ claims: { sub: randomUUID() } }), reason: 'user_unknown' },
    { name: 'sub that is not a UUID (validly signed)', token: () => mint({ claims: { sub: "x' OR '1'='1" } }), reason: 'claim_invalid' },
    { name: 'numeric sub (validly signed)', token: () => mint({ claims: { sub: 42 } }), reason: 'claim_invalid' },
    { name: 'role not the user’s (validly signed)', token: () => mint({ claims: { role: 'clinician' } }), reason: 'claims_stale' },
    { name: 'agency not the user’s (validly signed)', token: () => mint({ claims: { agency: 'other-agency' } }), reason: 'claims_stale' },
    // typ.
    { name: 'typ JWT', token: () => mint({ header: { typ: 'JWT' } }), reason: 'ERR_JWT_CLAIM_VALIDATION_FAILED' },
    { name: 'no typ', token: () => mint({ header: { typ: undefined } }), reason: 'ERR_JWT_CLAIM_VALIDATION_FAILED' },
    // Tampering with a real token.
    {
      name: 'payload changed (role raised), signature kept',
      token: async () => {
        const [h, , s] = clerk.token.split('.');
        return `${h}.${b64({ ...decodeJwt(clerk.token), role: 'clinician', agency_kind: 'mental_health' })}.${s}`;
      },
      reason: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
    },
    {
      name: 'one payload byte flipped',
      token: async () => {
        const [h, p, s] = clerk.token.split('.');
        const bytes = Buffer.from(p!, 'base64url');
        bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
        return `${h}.${bytes.toString('base64url')}.${s}`;
      },
    },
    {
      name: 'one signature byte flipped',
      token: async () => {
        const [h, p, s] = clerk.token.split('.');
        const bytes = Buffer.from(s!, 'base64url');
        bytes[10]! ^= 0x80;
        return `${h}.${p}.${bytes.toString('base64url')}`;
      },
      reason: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
    },
    { name: 'truncated signature', token: () => clerk.token.slice(0, -12), reason: /ERR_JWS/ },
    { name: 'signature with extra bytes', token: () => `${clerk.token}AAAA`, reason: /ERR_JWS/ },
    { name: 'signature dropped', token: () => clerk.token.split('.').slice(0, 2).join('.') + '.', reason: 'token_malformed' },
    // Malformed.
    { name: 'base64 (not base64url) characters', token: () => clerk.token.replace(/-/g, '+').replace(/_/g, '/') + '+/', reason: 'token_malformed' },
    { name: 'padding', token: () => `${clerk.token}==`, reason: 'token_malformed' },
    { name: 'two segments', token: () => clerk.token.split('.').slice(0, 2).join('.'), reason: 'token_malformed' },
    { name: 'JWE-shaped (five segments)', token: () => `${clerk.token}.AAAA.BBBB`, reason: 'token_malformed' },
    { name: 'header not JSON', token: () => `${b64('not json')}.${clerk.token.split('.')[1]}.${clerk.token.split('.')[2]}`, reason: /ERR_JWS_INVALID/ },
    {
      name: 'payload not JSON (re-signed)',
      token: async () => `${b64({ alg: 'ES256', kid: await activeKid(), typ: 'at+jwt' })}.${b64('[1,2')}.AAAA`,
      reason: /ERR_J/,
    },
    { name: 'garbage', token: () => 'a.b.c', reason: /ERR_JWS_INVALID/ },
    { name: 'a quoted token', token: () => `"${clerk.token}"`, reason: 'token_malformed' },
  ];

  it.each(attacks)('$name → 401, WWW-Authenticate, logged', async (attack) => {
    await expectRejected(await attack.token(), attack.reason, attack.name);
  });

  // The record read has its policy context read with the principal: refused alike.
  it.each(attacks)('$name → 401 on the record read too', async (attack) => {
    await expectRecordRejected(await attack.token(), attack.reason, attack.name);
  });

  it.each([
    ['no Authorization header', undefined, 'token_missing'],
    ['an empty Bearer', 'Bearer ', /scheme_invalid|token_missing/],
    ['Basic credentials', `Basic ${Buffer.from(`u:${TEST_PASSWORD}`).toString('base64')}`, 'scheme_invalid'],
    ['the token without a scheme', 'TOKEN', 'scheme_invalid'],
    ['two spaces before the token', 'Bearer  TOKEN', 'scheme_invalid'],
    ['a token followed by more', 'Bearer TOKEN extra', 'scheme_invalid'],
    ['a Bearer token with a trailing comma and another', 'Bearer TOKEN, Bearer TOKEN', 'scheme_invalid'],
  ] as const)('%s → 401', async (label, value, reason) => {
    const rid = `hdr-${randomUUID()}`;
    let req = request(t.app).get(SEARCH).set('X-Request-Id', rid);
    if (value !== undefined) req = req.set('Authorization', value.replace('TOKEN', clerk.token));
    const res = await req;
    expect(res.status, label).toBe(401);
    expectUnauthorized(res);
    await expectDenyLogged(rid, reason, label);
  });

  it('a token in the query string is refused, with or without a header', async () => {
    for (const withHeader of [false, true]) {
      const rid = `qs-${randomUUID()}`;
      let req = request(t.app).get(`${SEARCH}&access_token=${clerk.token}`).set('X-Request-Id', rid);
      if (withHeader) req = req.set(bearer(clerk));
      const res = await req;
      expect(res.status).toBe(401);
      expectUnauthorized(res);
      await expectDenyLogged(rid, 'token_in_query', 'query');
      // The token itself is not written to the log.
      expect(await count(`client_request_id = $1 AND row_to_json(access_log)::text LIKE '%' || $2 || '%'`, [rid, clerk.token.split('.')[2]])).toBe(0);
    }
  });

  it('a token in the body is not a credential', async () => {
    const rid = `body-${randomUUID()}`;
    const res = await request(t.app).post('/v1/subjects').set('X-Request-Id', rid).send({ access_token: clinician.token });
    expect(res.status).toBe(401);
    await expectDenyLogged(rid, 'token_missing', 'body');
  });

  it('two Authorization headers are refused, even when both are valid', async () => {
    const server = t.app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    try {
      const { port } = server.address() as AddressInfo;
      const send = (values: string[], rid: string) =>
        new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
          const req = http.request({ host: '127.0.0.1', port, path: SEARCH, method: 'GET', headers: { Authorization: values, 'X-Request-Id': rid } }, (res) => {
            let body = '';
            res.on('data', (c: Buffer) => (body += c.toString()));
            res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
          });
          req.on('error', reject);
          req.end();
        });
      const single = await send([`Bearer ${clerk.token}`], `two-${randomUUID()}`);
      expect(single.status).toBe(200);
      for (const values of [
        [`Bearer ${clerk.token}`, `Bearer ${clerk.token}`],
        [`Bearer ${clerk.token}`, `Bearer ${clinician.token}`],
        ['Bearer x.y.z', `Bearer ${clerk.token}`],
      ]) {
        const rid = `two-${randomUUID()}`;
        const res = await send(values, rid);
        expect(res.status).toBe(401);
        expect(res.headers['www-authenticate']).toMatch(/^Bearer /);
        expect(res.body).not.toContain('Leaky');
        await expectDenyLogged(rid, 'multiple_authorization_headers', 'two headers');
      }
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('a disabled user, or a disabled agency, is refused on the very next request', async () => {
    const u = await createUser(t.deps, police, 'officer');
    expect((await request(t.app).get(SEARCH).set(bearer(u))).status).toBe(200);
    await database.admin('UPDATE users SET disabled_at = now() WHERE id = $1', [u.userId]);
    await expectRejected(u.token, 'user_disabled', 'disabled user');
    // And cannot log in again either, with the same answer as a wrong password.
    const login = await request(t.app).post('/oauth/token').type('form').send({ grant_type: 'password', username: u.username, password: TEST_PASSWORD });
    expect(login.status).toBe(400);
    expect(login.body.error).toBe('invalid_grant');

    const agency = await createAgency(t.deps.db, 'hospital');
    const v = await createUser(t.deps, agency, 'social_worker');
    expect((await request(t.app).get(SEARCH).set(bearer(v))).status).toBe(200);
    await database.admin('UPDATE agencies SET disabled_at = now() WHERE id = $1', [agency.id]);
    await expectRejected(v.token, 'agency_disabled', 'disabled agency');
  });

  it('a changed role invalidates tokens carrying the old one', async () => {
    const u = await createUser(t.deps, police, 'officer');
    expect((await request(t.app).get(SEARCH).set(bearer(u))).status).toBe(200);
    await database.admin(`UPDATE users SET role = 'dispatcher' WHERE id = $1`, [u.userId]);
    await expectRejected(u.token, 'claims_stale', 'role changed');
  });

  it('a token revoked through POST /oauth/revoke is refused on the next request; others keep working', async () => {
    const u = await createUser(t.deps, police, 'officer');
    const other = await t.deps.tokens.issue({ userId: u.userId, agency: u.agency, agencyKind: u.kind, role: u.role, amr: ['pwd'] });
    expect((await request(t.app).get(SEARCH).set(bearer(u))).status).toBe(200);
    const res = await request(t.app).post('/oauth/revoke').type('form').send({ token: u.token });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({});
    expect(res.headers['cache-control']).toMatch(/no-store/);
    await expectRejected(u.token, 'token_revoked', 'revoked');
    expect((await request(t.app).get(SEARCH).set('Authorization', `Bearer ${other}`)).status).toBe(200);
    // Revoking again, or revoking garbage, answers 200 {} as RFC 7009 says, and reveals nothing.
    for (const token of [u.token, 'garbage', `${clerk.token.slice(0, -4)}AAAA`]) {
      const again = await request(t.app).post('/oauth/revoke').send({ token });
      expect(again.status).toBe(200);
      expect(again.body).toEqual({});
    }
    expect(await count(`action = 'token.revoke' AND detail->>'jti' = $1`, [decodeJwt(u.token).jti])).toBeGreaterThanOrEqual(1);
  });
});

// The record read has its policy context read in the principal's own statement (one round trip
// fewer): every refusal must be exactly what it is elsewhere, and nothing that rode along may leave.
describe('the record read, whose policy context rides with the principal', () => {
  const recordOf = () => `/v1/subjects/${leaky.id}`;

  it('a revoked token, a disabled user or agency and a changed role are refused on the very next record read', async () => {
    const mh = await createAgency(t.deps.db, 'mental_health');
    const users = await Promise.all([0, 1, 2, 3].map(() => createUser(t.deps, mh, 'clinician')));
    const read = async (u: TestUser) => request(t.app).get(recordOf()).set(bearer(u));
    for (const u of users) {
      const ok = await read(u);
      expect(ok.status, ok.text).toBe(200);
      expect(ok.body.subject.id).toBe(leaky.id);
    }
    const [revoked, disabled, demoted, ofDisabledAgency] = users as [TestUser, TestUser, TestUser, TestUser];
    expect((await request(t.app).post('/oauth/revoke').type('form').send({ token: revoked.token })).status).toBe(200);
    await expectRecordRejected(revoked.token, 'token_revoked', 'revoked');
    await database.admin('UPDATE users SET disabled_at = now() WHERE id = $1', [disabled.userId]);
    await expectRecordRejected(disabled.token, 'user_disabled', 'disabled user');
    await database.admin(`UPDATE users SET role = 'peer_specialist' WHERE id = $1`, [demoted.userId]);
    await expectRecordRejected(demoted.token, 'claims_stale', 'role changed');
    await database.admin('UPDATE agencies SET disabled_at = now() WHERE id = $1', [mh.id]);
    await expectRecordRejected(ofDisabledAgency.token, 'agency_disabled', 'disabled agency');
  });

  it('is two statements: the principal with the policy context, then the data with its log entry', async () => {
    // A count of what the real driver is asked to run during one request; nothing is replaced.
    const client = (t.deps.db as unknown as { session: { client: { query: (...args: unknown[]) => unknown } } }).session.client;
    const query = client.query;
    const sent: string[] = [];
    client.query = function (this: unknown, ...args: unknown[]) {
      const q = args[0] as string | { name?: string; text: string };
      sent.push(typeof q === 'string' ? q : (q.name ?? q.text));
      return query.apply(this, args);
    };
    let res: request.Response;
    try {
      res = await request(t.app).get(recordOf()).set(bearer(clinician));
    } finally {
      client.query = query;
    }
    expect(res.status, res.text).toBe(200);
    expect(res.text).toContain(leakyMarker);
    expect(sent).toHaveLength(2);
    expect(sent[0]).toMatch(/tiergate_principal_record_context|"contextConsents"/);
    expect(sent[1]).toMatch(/tiergate_record_logged|INSERT INTO access_log/);
    // An unknown person is a 404 from what rode along, logged as a denial, without a second read.
    const unknown = randomUUID();
    const missing = await request(t.app).get(`/v1/subjects/${unknown}`).set(bearer(clinician));
    expect(missing.status).toBe(404);
    expect(await count(`action = 'subject.read' AND subject_id = $1 AND decision = 'deny'`, [unknown])).toBe(1);
  });
});

describe('GET /.well-known/jwks.json', () => {
  it('publishes only public members, and verifies the gateway’s tokens on its own', async () => {
    const res = await request(t.app).get('/.well-known/jwks.json');
    expect(res.status).toBe(200);
    const { keys } = res.body as { keys: JWK[] };
    expect(keys.length).toBeGreaterThan(0);
    const publicMembers = new Set(['kty', 'crv', 'x', 'y', 'kid', 'alg', 'use', 'key_ops', 'n', 'e']);
    for (const k of keys) {
      for (const member of Object.keys(k)) expect(publicMembers, `member ${member}`).toContain(member);
      for (const secret of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth']) expect(k).not.toHaveProperty(secret);
      expect(k).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
    }
    expect(res.text).not.toMatch(/"d"\s*:/);
    expect(keys.map((k) => k.kid)).toContain(await activeKid());
    // A stateless instance (or a partner) can verify a token with the JWKS alone.
    const { payload } = await jwtVerify(clerk.token, createLocalJWKSet({ keys }), {
      issuer: TEST_ENV.TOKEN_ISSUER,
      audience: TEST_ENV.TOKEN_AUDIENCE,
      algorithms: ['ES256'],
    });
    expect(payload.sub).toBe(clerk.userId);
  });
});
