import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { openTestDatabase, type TestDatabase } from '../helpers/db.js';
import { bearer, createAgency, createEntry, createSubject, createUser, type TestUser } from '../helpers/factories.js';

let database: TestDatabase;
let t: TestApp;
let clinician: TestUser;

beforeAll(async () => {
  database = await openTestDatabase();
  t = await createTestApp(database.app);
  const mh = await createAgency(t.deps.db, 'mental_health');
  clinician = await createUser(t.deps, mh, 'clinician');
});
afterAll(() => database?.close());

describe('smoke', () => {
  it('reads a subject', async () => {
    const s = await createSubject(t.deps.db, clinician);
    await createEntry(t.deps.db, s.id, clinician, 'full', ['substance-use']);
    const res = await request(t.app).get(`/v1/subjects/${s.id}`).set(bearer(clinician));
    expect(res.status, JSON.stringify(res.body)).toBe(200);
  });

  it("names each problem by the gateway's own request id, never the client's X-Request-Id", async () => {
    const unknown = '/v1/subjects/00000000-0000-4000-8000-000000000009';
    for (const sent of ['3f2504e0-4f89-41d3-9a0c-0305e82c3301', 'dispatch-call-20261124-0042', 'bad id with spaces']) {
      const res = await request(t.app).get(unknown).set(bearer(clinician)).set('X-Request-Id', sent);
      expect(res.status).toBe(404);
      expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
      expect(res.headers['x-request-id']).not.toBe(sent);
      expect(res.body.instance).toBe(`urn:uuid:${res.headers['x-request-id']}`);
    }
  });
});
