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

  it('names each problem by its request id: a URN that fits the id, the id kept when well formed', async () => {
    const unknown = '/v1/subjects/00000000-0000-4000-8000-000000000009';
    const uuid = '3f2504e0-4f89-41d3-9a0c-0305e82c3301';
    const kept = await request(t.app).get(unknown).set(bearer(clinician)).set('X-Request-Id', uuid);
    expect(kept.status).toBe(404);
    expect(kept.body.instance).toBe(`urn:uuid:${uuid}`);
    const named = await request(t.app).get(unknown).set(bearer(clinician)).set('X-Request-Id', 'dispatch-call-20261124-0042');
    expect(named.headers['x-request-id']).toBe('dispatch-call-20261124-0042');
    expect(named.body.instance).toBe('urn:tiergate:request:dispatch-call-20261124-0042');
    const replaced = await request(t.app).get(unknown).set(bearer(clinician)).set('X-Request-Id', 'bad id with spaces');
    expect(replaced.body.instance).toMatch(/^urn:uuid:[0-9a-f-]{36}$/);
    expect(replaced.headers['x-request-id']).not.toContain(' ');
  });
});
