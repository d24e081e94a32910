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
});
