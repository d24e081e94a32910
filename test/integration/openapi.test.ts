import { randomUUID } from 'node:crypto';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sealAndCheckpoint } from '../../src/audit/seal.js';
import { DECLARED } from '../../src/http/route.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { openTestDatabase, type TestDatabase } from '../helpers/db.js';
import { bearer, createAgency, createSubject, createUser, type TestUser } from '../helpers/factories.js';

// GET /openapi.json against the app itself: the document lists exactly the routes the app
// serves (recorded by defineRoute, src/http/route.ts), every /v1 operation is behind the bearer scheme, the request schemas accept and
// refuse what the routes accept and refuse, real answers fit the documented response shapes,
// and the document holds together (refs, path parameters, operation ids).

type Json = Record<string, any>;

let database: TestDatabase;
let t: TestApp;
let doc: Json;
let clinician: TestUser;
let compliance: TestUser;
let subjectId: string;

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'options', 'head', 'trace'];

beforeAll(async () => {
  database = await openTestDatabase();
  t = await createTestApp(database.app);
  const mh = await createAgency(t.deps.db, 'mental_health');
  const gw = await createAgency(t.deps.db, 'gateway');
  clinician = await createUser(t.deps, mh, 'clinician');
  compliance = await createUser(t.deps, gw, 'compliance_officer');
  subjectId = (await createSubject(t.deps.db, clinician)).id;
  doc = (await request(t.app).get('/openapi.json')).body as Json;
});
afterAll(() => database?.close());

/** Every operation of the document as 'METHOD /path/{param}', with the operation object. */
function operations(): [string, Json][] {
  return Object.entries(doc.paths as Json).flatMap(([path, item]) =>
    Object.entries(item as Json)
      .filter(([method]) => METHODS.includes(method))
      .map(([method, op]) => [`${method.toUpperCase()} ${path}`, op as Json] as [string, Json]),
  );
}
const operation = (key: string): Json => {
  const found = operations().find(([k]) => k === key);
  if (!found) throw new Error(`no operation ${key}`);
  return found[1];
};

/** Follows a local JSON pointer ('#/components/...') through the document. */
function resolve(pointer: string): unknown {
  if (!pointer.startsWith('#/')) throw new Error(`not a local reference: ${pointer}`);
  return pointer
    .slice(2)
    .split('/')
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce<unknown>((node, key) => (node && typeof node === 'object' ? (node as Json)[key] : undefined), doc);
}
const deref = (node: Json): Json => (typeof node.$ref === 'string' ? deref(resolve(node.$ref) as Json) : node);

// Express 5 (router@2) keeps each layer's mount path in `rawPath`; a nested router is a layer
// whose handle has its own stack, and a route layer carries `route.path`, `route.methods` and
// its handlers. Used only to prove that no /v1 route bypasses defineRoute: the document itself
// is recorded by the routes (src/http/route.ts), so it cannot list one that is not served.
interface Layer {
  rawPath?: unknown;
  route?: { path: string; methods: Record<string, boolean>; stack: { handle: Record<symbol, unknown> }[] };
  handle: { stack?: Layer[] };
}
const joinPath = (prefix: string, path: string) => prefix + (path === '/' ? '' : path);

function servedRoutes(stack: Layer[], prefix = ''): { key: string; declared: boolean }[] {
  return stack.flatMap((layer) => {
    if (layer.route) {
      const path = joinPath(prefix, layer.route.path) || '/';
      const declared = layer.route.stack.at(-1)?.handle[DECLARED] === true;
      return Object.keys(layer.route.methods).map((m) => ({ key: `${m.toUpperCase()} ${path}`, declared }));
    }
    if (!layer.handle.stack) return [];
    if (typeof layer.rawPath !== 'string') throw new Error(`a router mounted at ${String(layer.rawPath)}: teach this walk about it`);
    return servedRoutes(layer.handle.stack, joinPath(prefix, layer.rawPath));
  });
}

// Formats are checked by the patterns zod writes next to them; Ajv takes the names as known.
const ajvOptions = { strict: true, allErrors: true, formats: { uuid: true, date: true, 'date-time': true, uri: true } } as const;
/** Request bodies: types as sent. */
const bodyAjv = new Ajv2020(ajvOptions);
/** Query strings: every value arrives as a string, as express hands it to the validator. */
const queryAjv = new Ajv2020({ ...ajvOptions, coerceTypes: true });
for (const ajv of [bodyAjv, queryAjv]) ajv.addKeyword('discriminator');
const DOC_ID = 'https://tiergate.test/openapi.json';
let refsAdded = false;

/** The document's component references, pointed at the components registered with Ajv. */
const pointIntoComponents = (schema: unknown): Json => JSON.parse(JSON.stringify(schema).replaceAll('"#/components/schemas/', `"${DOC_ID}#/$defs/`)) as Json;

/** A schema of the document, compiled with its component references resolved. */
function compile(schema: Json, ajv = bodyAjv): ValidateFunction {
  if (!refsAdded) {
    for (const a of [bodyAjv, queryAjv]) a.addSchema({ $id: DOC_ID, $defs: pointIntoComponents(doc.components.schemas) });
    refsAdded = true;
  }
  return ajv.compile(pointIntoComponents(schema));
}

function responseSchema(op: Json, status: number, media = 'application/json'): Json {
  const response = deref(op.responses[String(status)] as Json);
  return response.content[media].schema as Json;
}

describe('GET /openapi.json', () => {
  it('answers an OpenAPI 3.1.0 document as public, cacheable JSON', async () => {
    const res = await request(t.app).get('/openapi.json');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.headers['cache-control']).toMatch(/^public/);
    expect(res.body.openapi).toBe('3.1.0');
    expect(res.body.info).toMatchObject({ title: 'tiergate', version: expect.stringMatching(/^\d+\.\d+\.\d+/) });
    expect(res.body.servers).toEqual([expect.objectContaining({ url: t.deps.config.TOKEN_ISSUER })]);
  });

  it('describes exactly the routes the app serves', () => {
    // The web console's HTML pages (src/console) are not part of the API document.
    const api = /^[A-Z]+ \/(v1|oauth|\.well-known|openapi\.json|healthz|readyz)(\/|$)/;
    const served = servedRoutes((t.app as unknown as { router: { stack: Layer[] } }).router.stack).filter((r) => api.test(r.key));
    expect(served.length).toBeGreaterThan(30);
    expect(new Set(served.map((r) => r.key)).size, 'a route registered twice').toBe(served.length);
    expect(
      operations()
        .map(([k]) => k)
        .sort(),
    ).toEqual(served.map((r) => r.key.replace(/:(\w+)/g, '{$1}')).sort());
  });

  it('declares every /v1 route with defineRoute', () => {
    const v1 = servedRoutes((t.app as unknown as { router: { stack: Layer[] } }).router.stack).filter((r) => r.key.split(' ')[1]!.startsWith('/v1/'));
    expect(v1.filter((r) => r.declared).length).toBeGreaterThan(25);
    expect(v1.filter((r) => !r.declared).map((r) => r.key)).toEqual([]);
    // And nothing outside /v1 claims to be declared: those operations are the document's frame.
    const outside = servedRoutes((t.app as unknown as { router: { stack: Layer[] } }).router.stack).filter((r) => !r.key.split(' ')[1]!.startsWith('/v1/'));
    expect(outside.filter((r) => r.declared)).toEqual([]);
  });
});

describe('security', () => {
  it('puts every /v1 operation behind the bearer scheme, with problem+json 401 and 403', () => {
    expect(doc.components.securitySchemes.bearerAuth).toEqual(expect.objectContaining({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' }));
    const v1 = operations().filter(([k]) => k.split(' ')[1]!.startsWith('/v1/'));
    expect(v1.length).toBeGreaterThan(25);
    for (const [key, op] of v1) {
      expect(op.security, key).toEqual([{ bearerAuth: [] }]);
      for (const status of [401, 403]) {
        const schema = responseSchema(op, status, 'application/problem+json');
        expect(schema, `${key} ${status}`).toEqual({ $ref: '#/components/schemas/Problem' });
      }
    }
    for (const [key, op] of operations().filter(([k]) => !k.split(' ')[1]!.startsWith('/v1/'))) expect(op.security, key).toBeUndefined();
  });

  it('and the routes do refuse those operations without a token', async () => {
    for (const [key] of operations().filter(([k]) => k.split(' ')[1]!.startsWith('/v1/'))) {
      const [method, template] = key.split(' ') as [string, string];
      const res = await request(t.app)[method.toLowerCase() as 'get' | 'post' | 'delete'](template.replace(/\{\w+\}/g, randomUUID()));
      expect(res.status, key).toBe(401);
      expect(res.headers['content-type'], key).toMatch(/^application\/problem\+json/);
      expect(compile(responseSchema(operation(key), 401, 'application/problem+json'))(res.body), key).toBe(true);
    }
  });
});

describe('the request schemas are the validators', () => {
  /** What the route and the document each say about one request: accepted or refused. */
  async function verdicts(key: string, url: string, user: TestUser, input: { body?: Json; query?: Record<string, string> }) {
    const op = operation(key);
    const [method] = key.split(' ') as [string];
    let document: boolean;
    if (input.body) {
      document = compile(op.requestBody.content['application/json'].schema as Json)(input.body);
    } else {
      // The routes refuse query parameters that the operation does not list.
      const params = (op.parameters as Json[]).filter((p) => p.in === 'query');
      const schema = {
        type: 'object',
        properties: Object.fromEntries(params.map((p) => [p.name, p.schema])),
        required: params.filter((p) => p.required).map((p) => p.name),
        additionalProperties: false,
      };
      document = compile(schema, queryAjv)({ ...input.query });
    }
    let call = request(t.app)[method.toLowerCase() as 'get' | 'post'](url).set(bearer(user));
    if (input.query) call = call.query(input.query);
    const res = await (input.body ? call.send(input.body) : call);
    const success = Object.keys(op.responses as Json).find((s) => s.startsWith('2'))!;
    if (res.status === Number(success)) {
      // An accepted request also answers the documented shape.
      expect(compile(responseSchema(op, res.status))(res.body), `${key} answered ${res.text}`).toBe(true);
    } else {
      expect(res.status, `${key} ${JSON.stringify(input)}: ${res.text}`).toBe(400);
      expect(compile(responseSchema(op, 400, 'application/problem+json'))(res.body)).toBe(true);
    }
    return { route: res.status === Number(success), document };
  }

  async function expectAgreement(
    key: string,
    url: () => string,
    user: () => TestUser,
    cases: { accepts: boolean; body?: Json; query?: Record<string, string> }[],
  ) {
    for (const { accepts, ...input } of cases) {
      expect(await verdicts(key, url(), user(), input), `${key} ${JSON.stringify(input)}`).toEqual({ route: accepts, document: accepts });
    }
  }

  const subject = { givenName: 'Ada', familyName: 'Lovelace', birthDate: '1985-02-03', sex: 'female' };
  const consent = { recipients: [{ agencyKind: 'police' }], tiers: ['intermediate'], purpose: 'care-coordination', evidence: { form: 'written' } };

  it('POST /v1/subjects', () =>
    expectAgreement(
      'POST /v1/subjects',
      () => '/v1/subjects',
      () => clinician,
      [
        { accepts: true, body: subject },
        { accepts: false, body: { ...subject, nickname: 'Ada' } },
        { accepts: false, body: { ...subject, sex: 5 } },
        { accepts: false, body: { ...subject, sex: 'robot' } },
        { accepts: false, body: { ...subject, birthDate: '1985-02-30' } },
        { accepts: false, body: { givenName: 'Ada', birthDate: '1985-02-03', sex: 'female' } },
      ],
    ));

  it('POST /v1/subjects/:id/consents', () =>
    expectAgreement(
      'POST /v1/subjects/{id}/consents',
      () => `/v1/subjects/${subjectId}/consents`,
      () => clinician,
      [
        { accepts: true, body: consent },
        {
          accepts: true,
          body: {
            ...consent,
            sensitiveCategories: ['substance-use'],
            validUntil: '2099-01-01T00:00:00Z',
            evidence: { form: 'verbal', witness: 'Nurse on duty' },
          },
        },
        { accepts: false, body: { ...consent, scope: 'all' } },
        { accepts: false, body: { ...consent, tiers: 'intermediate' } },
        { accepts: false, body: { ...consent, recipients: [{ agencyKind: 'police', agency: 'metro-police' }] } },
        { accepts: false, body: { ...consent, recipients: [] } },
        { accepts: false, body: { ...consent, evidence: { form: 'email' } } },
        { accepts: false, body: { ...consent, validFrom: 'tomorrow' } },
      ],
    ));

  it('POST /v1/subjects/:id/break-glass (the policy minimum reason length)', () =>
    expectAgreement(
      'POST /v1/subjects/{id}/break-glass',
      () => `/v1/subjects/${subjectId}/break-glass`,
      () => clinician,
      [
        { accepts: true, body: { reason: 'Barricaded, threatening self-harm; the unit needs the crisis plan' } },
        { accepts: false, body: { reason: 'urgent' } },
        { accepts: false, body: { reason: 'Barricaded, threatening self-harm', urgent: true } },
        { accepts: false, body: { reason: 42 } },
      ],
    ));

  it('GET /v1/audit/events (query)', () =>
    expectAgreement(
      'GET /v1/audit/events',
      () => '/v1/audit/events',
      () => compliance,
      [
        { accepts: true, query: {} },
        { accepts: true, query: { decision: 'deny', limit: '20', from: '2024-01-01T00:00:00Z', subject: subjectId } },
        { accepts: false, query: { decision: 'maybe' } },
        { accepts: false, query: { limit: '0' } },
        { accepts: false, query: { limit: 'many' } },
        { accepts: false, query: { from: 'yesterday' } },
        { accepts: false, query: { subject: 'not-a-uuid' } },
        { accepts: false, query: { q: 'lovelace' } },
      ],
    ));
});

describe('responses', () => {
  it('real answers fit the documented shapes', async () => {
    // A checkpoint as the background sealer signs one (reads never sign), over a logged read.
    expect((await request(t.app).get(`/v1/subjects/${subjectId}`).set(bearer(clinician))).status).toBe(200);
    await sealAndCheckpoint(t.deps.db, t.deps.keys);
    const checks: [string, string, TestUser | undefined][] = [
      ['GET /v1/subjects/{id}', `/v1/subjects/${subjectId}`, clinician],
      ['GET /v1/subjects/{id}/risk-flags', `/v1/subjects/${subjectId}/risk-flags`, clinician],
      ['GET /v1/subjects/{id}/consents', `/v1/subjects/${subjectId}/consents`, clinician],
      ['GET /v1/audit/break-glass', '/v1/audit/break-glass?status=all', compliance],
      ['GET /v1/audit/subjects/{id}/disclosures', `/v1/audit/subjects/${subjectId}/disclosures`, compliance],
      ['GET /v1/audit/checkpoints/latest', '/v1/audit/checkpoints/latest', compliance],
      ['GET /healthz', '/healthz', undefined],
      ['GET /readyz', '/readyz', undefined],
      ['GET /.well-known/jwks.json', '/.well-known/jwks.json', undefined],
    ];
    for (const [key, url, user] of checks) {
      const res = await (user ? request(t.app).get(url).set(bearer(user)) : request(t.app).get(url));
      expect(res.status, `${key}: ${res.text}`).toBe(200);
      const validate = compile(responseSchema(operation(key), 200));
      expect(validate(res.body), `${key}: ${JSON.stringify(validate.errors)}`).toBe(true);
    }
  });

  it('an OAuth refusal is an RFC 6749 error object', async () => {
    const res = await request(t.app).post('/oauth/token').type('form').send({ grant_type: 'password', username: 'nobody', surprise: 'x' });
    expect(res.status).toBe(400);
    expect(compile(responseSchema(operation('POST /oauth/token'), 400))(res.body)).toBe(true);
  });
});

describe('structure', () => {
  it('resolves every $ref', () => {
    const refs: string[] = [];
    const walk = (node: unknown): void => {
      if (Array.isArray(node)) node.forEach(walk);
      else if (node && typeof node === 'object') {
        for (const [k, v] of Object.entries(node)) {
          if (k === '$ref' && typeof v === 'string') refs.push(v);
          else walk(v);
        }
      }
    };
    walk(doc);
    for (const mapping of operations().flatMap(([, op]) =>
      Object.values((op.requestBody?.content['application/json'].schema.discriminator?.mapping ?? {}) as Json),
    ))
      refs.push(mapping as string);
    expect(refs.length).toBeGreaterThan(50);
    for (const r of refs) expect(resolve(r), r).toBeDefined();
  });

  it('declares every path parameter of a template, and no other', () => {
    for (const [key, op] of operations()) {
      const template = key.split(' ')[1]!;
      const inTemplate = [...template.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      const declared = ((op.parameters ?? []) as Json[]).filter((p) => p.in === 'path');
      expect(declared.map((p) => p.name).sort(), key).toEqual(inTemplate.sort());
      for (const p of declared) expect(p.required, `${key} ${p.name}`).toBe(true);
    }
  });

  it('has unique operation ids, declared tags and a description on every response', () => {
    const ids = operations().map(([, op]) => op.operationId as string);
    expect(ids.every((id) => typeof id === 'string' && id.length > 0)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    const tags = new Set((doc.tags as Json[]).map((tag) => tag.name));
    for (const [key, op] of operations()) {
      expect(
        (op.tags as string[]).every((tag) => tags.has(tag)),
        key,
      ).toBe(true);
      for (const [status, response] of Object.entries(op.responses as Json))
        expect(typeof deref(response as Json).description, `${key} ${status}`).toBe('string');
    }
  });

  it('compiles every schema as JSON Schema 2020-12', () => {
    for (const [name, schema] of Object.entries(doc.components.schemas as Json)) expect(() => compile(schema as Json), name).not.toThrow();
    for (const [key, op] of operations()) {
      for (const media of Object.values((op.requestBody?.content ?? {}) as Json)) expect(() => compile(media.schema as Json), key).not.toThrow();
      for (const p of (op.parameters ?? []) as Json[]) expect(() => compile(p.schema as Json), `${key} ${p.name}`).not.toThrow();
    }
  });
});
