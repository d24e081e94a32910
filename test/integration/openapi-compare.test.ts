import { readFileSync } from 'node:fs';
import { Validator } from '@seriousme/openapi-schema-validator';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp } from '../helpers/app.js';
import { openTestDatabase, type TestDatabase } from '../helpers/db.js';

// The document the routes record (src/http/route.ts) against the one served before they did
// (test/fixtures/openapi-before.json, dumped from main at 9e75bfd, when every operation was
// written out by hand in src/http/openapi.ts): nothing lost, every change listed here with its
// reason, and the whole validated as OpenAPI 3.1 by an independent validator.

type Json = Record<string, any>;
const METHODS = ['get', 'put', 'post', 'delete', 'patch'];
const before = JSON.parse(readFileSync(new URL('../fixtures/openapi-before.json', import.meta.url), 'utf8')) as Json;

/** Changes on purpose, each with its reason ('METHOD /path' or 'METHOD /path STATUS'). */
const CHANGED: Record<string, string> = {};

let database: TestDatabase;
let after: Json;

beforeAll(async () => {
  database = await openTestDatabase();
  const t = await createTestApp(database.app);
  after = (await request(t.app).get('/openapi.json')).body as Json;
});
afterAll(() => database?.close());

/** 'METHOD /path' → operation. */
const operations = (doc: Json): Map<string, Json> =>
  new Map(
    Object.entries(doc.paths as Json).flatMap(([path, item]) =>
      Object.entries(item as Json)
        .filter(([method]) => METHODS.includes(method))
        .map(([method, op]) => [`${method.toUpperCase()} ${path}`, op as Json] as const),
    ),
  );

describe('the recorded document against the hand-written one', () => {
  it('keeps every operation with its id, tag, security and every response status', () => {
    const old = operations(before);
    const now = operations(after);
    expect(old.size).toBeGreaterThan(40);
    for (const [key, op] of old) {
      if (CHANGED[key]) continue;
      const found = now.get(key);
      expect(found, `${key} is gone`).toBeDefined();
      expect(found!.operationId, key).toBe(op.operationId);
      expect(found!.tags, key).toEqual(op.tags);
      expect(found!.security, key).toEqual(op.security);
      for (const status of Object.keys(op.responses as Json)) {
        if (CHANGED[`${key} ${status}`]) continue;
        expect(found!.responses[status], `${key} ${status}`).toBeDefined();
        expect(Object.keys(found!.responses[status].content ?? {}), `${key} ${status} media`).toEqual(
          Object.keys(resolveResponse(before, op.responses[status]).content ?? {}).filter(() => !found!.responses[status].$ref),
        );
      }
      expect(Object.keys(found!.responses as Json).sort(), `${key}: a status was added`).toEqual(Object.keys(op.responses as Json).sort());
    }
    expect(
      [...now.keys()].filter((k) => !old.has(k)),
      'operations that were not there before',
    ).toEqual([]);
  });

  it('keeps every request: the same parameters and the same body schemas', () => {
    const old = operations(before);
    const now = operations(after);
    for (const [key, op] of old) {
      const found = now.get(key)!;
      const names = (o: Json) => ((o.parameters ?? []) as Json[]).map((p) => `${p.in}:${p.name}:${p.required}`).sort();
      expect(names(found), key).toEqual(names(op));
      expect(Object.keys(found.requestBody?.content ?? {}), key).toEqual(Object.keys(op.requestBody?.content ?? {}));
    }
  });

  it('keeps every named component schema, and the problem responses', () => {
    expect(Object.keys(after.components.schemas as Json).sort()).toEqual(Object.keys(before.components.schemas as Json).sort());
    expect(after.components.responses).toEqual(before.components.responses);
    expect(after.components.securitySchemes).toEqual(before.components.securitySchemes);
    expect(after.info).toEqual(before.info);
    expect(after.servers).toEqual(before.servers);
    expect(after.tags).toEqual(before.tags);
  });
});

describe('OpenAPI 3.1', () => {
  it('is a valid OpenAPI 3.1 document (@seriousme/openapi-schema-validator)', async () => {
    const validator = new Validator();
    const result = await validator.validate(after);
    expect(result.errors, JSON.stringify(result.errors)).toBeUndefined();
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
  });

  it('and the validator does refuse a broken one', async () => {
    const broken = structuredClone(after);
    // A parameter without `in`, which OpenAPI requires.
    broken.paths['/v1/cases/{id}/close'].post.parameters[0].in = undefined;
    expect((await new Validator().validate(broken)).valid).toBe(false);
  });
});

function resolveResponse(doc: Json, response: Json): Json {
  if (typeof response.$ref !== 'string') return response;
  return resolveResponse(doc, doc.components.responses[response.$ref.split('/').pop()!] as Json);
}
