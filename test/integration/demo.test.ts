import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedDemo } from '../../src/db/seed/demo.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { openTestDatabase, type TestDatabase } from '../helpers/db.js';

let database: TestDatabase;
let t: TestApp;

beforeAll(async () => {
  database = await openTestDatabase();
  t = await createTestApp(database.app);
  await seedDemo(t.deps.db, 'demo-password');
});
afterAll(() => database?.close());

describe('demo', () => {
  it('clinician reads', async () => {
    const tok = await request(t.app).post('/oauth/token').type('form').send({ grant_type: 'password', username: 'clinician@harbor-mh', password: 'demo-password' });
    const search = await request(t.app).get('/v1/subjects?name=Lovelace&dob=1985-02-03').set('Authorization', `Bearer ${tok.body.access_token}`);
    const { runner } = t.deps;
    const orig = (runner as any).logger;
    (runner as any).logger = { error: (o: any) => console.log(o.err, (orig as any)) };
    const res = await request(t.app).get(`/v1/subjects/${search.body.subjects[0].id}`).set('Authorization', `Bearer ${tok.body.access_token}`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
  });
});
