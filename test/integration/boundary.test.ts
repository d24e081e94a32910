import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH } from '../../src/http/validate.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { expectProblem } from '../helpers/assertions.js';
import { openTestDatabase, type TestDatabase } from '../helpers/db.js';
import { bearer, createAgency, createConsent, createSubject, createUser, type TestUser } from '../helpers/factories.js';

// Issue 9 item 8, the boundary: ids in any case are the same ids; a body nested thousands deep or
// carrying a NUL or a lone surrogate is bad input (400, nothing changed, nothing disclosed); the
// client's X-Request-Id is recorded beside the gateway's own request id, never in its place.

let database: TestDatabase;
let t: TestApp;
let clinician: TestUser;
let clerk: TestUser;
let compliance: TestUser;
let subject: Awaited<ReturnType<typeof createSubject>>;
let tables: string[];
const FAMILY = `Upcase${randomUUID().slice(0, 6)}`;
const DOB = '1969-07-20';

beforeAll(async () => {
  database = await openTestDatabase();
  t = await createTestApp(database.app);
  const mh = await createAgency(t.deps.db, 'mental_health');
  const police = await createAgency(t.deps.db, 'police');
  const gateway = await createAgency(t.deps.db, 'gateway');
  clinician = await createUser(t.deps, mh, 'clinician');
  clerk = await createUser(t.deps, police, 'records_staff');
  compliance = await createUser(t.deps, gateway, 'compliance_officer');
  subject = await createSubject(t.deps.db, clinician, { familyName: FAMILY, birthDate: DOB });
  await createConsent(t.deps.db, subject.id, clinician, { kinds: ['police'] });
  const { rows } = await database.admin(
    `SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'
       AND table_name NOT IN ('audit_seal_queue', 'audit_seals', 'audit_checkpoints')
       AND table_name !~ '^access_log_y[0-9]{4}m[0-9]{2}$' ORDER BY 1`,
  );
  tables = rows.map((r) => r.t as string);
});
afterAll(() => database?.close());

async function snapshot(): Promise<Record<string, number>> {
  const { rows } = await database.admin(`SELECT ${tables.map((n) => `(SELECT count(*)::int FROM "${n}") AS "${n}"`).join(', ')}`);
  return Object.fromEntries(Object.entries(rows[0]!).map(([k, v]) => [k, Number(v)]));
}

describe('upper-case UUIDs are the same ids', () => {
  it('the events filter and the accounting find the same events for an upper-case subject id', async () => {
    const search = await request(t.app).get('/v1/subjects').query({ name: FAMILY, dob: DOB }).set(bearer(clerk));
    expect(search.status, search.text).toBe(200);
    const read = await request(t.app).get(`/v1/subjects/${subject.id.toUpperCase()}`).set(bearer(clerk));
    expect(read.status, read.text).toBe(200);
    expect(read.body.subject.id).toBe(subject.id);
    const { rows } = await database.admin('SELECT subject_id FROM access_log WHERE request_id = $1', [read.headers['x-request-id']]);
    expect(rows).toEqual([{ subject_id: subject.id }]);

    const events = async (id: string) => {
      const res = await request(t.app).get('/v1/audit/events').query({ subject: id }).set(bearer(compliance));
      expect(res.status, res.text).toBe(200);
      return (res.body.events as { id: string; action: string }[]).filter((e) => e.action.startsWith('subject.'));
    };
    const lower = await events(subject.id);
    expect(lower.map((e) => e.action).sort()).toEqual(['subject.read', 'subject.search']);
    expect(await events(subject.id.toUpperCase())).toEqual(lower);

    const accounting = async (id: string) => {
      const res = await request(t.app).get(`/v1/audit/subjects/${id}/disclosures`).set(bearer(compliance));
      expect(res.status, res.text).toBe(200);
      return res.body as { subject: string; disclosures: { eventId: string; action: string }[] };
    };
    const a = await accounting(subject.id);
    expect(a.disclosures.map((d) => d.action).sort()).toEqual(['subject.read', 'subject.search']);
    const b = await accounting(subject.id.toUpperCase());
    expect(b.subject).toBe(subject.id);
    expect(b.disclosures).toEqual(a.disclosures);
  });

  it('an upper-case actor id filters like the lower-case one', async () => {
    const res = (id: string) => request(t.app).get('/v1/audit/events').query({ actor: id }).set(bearer(compliance));
    const lower = await res(clerk.userId);
    const upper = await res(clerk.userId.toUpperCase());
    expect(lower.body.events.length).toBeGreaterThan(0);
    expect(upper.body.events.map((e: { id: string }) => e.id)).toEqual(lower.body.events.map((e: { id: string }) => e.id));
  });
});

describe('hostile JSON is bad input, never a 500 or a 503', () => {
  const entries = () => request(t.app).post(`/v1/subjects/${subject.id}/entries`).set(bearer(clinician)).type('application/json');
  const deep = (levels: number) => `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;
  const entry = (content: string, summary = '"a summary"') => `{"kind":"note","tier":"full","summary":${summary},"content":${content}}`;

  it.each([
    ['content nested 4,000 levels deep', entry(deep(4000))],
    [`content nested ${MAX_JSON_DEPTH} levels deep`, entry(deep(MAX_JSON_DEPTH))],
    ['a NUL in the summary', entry('{}', '"before\\u0000after"')],
    ['a NUL in the content', entry('{"text":"a\\u0000b"}')],
    ['a lone high surrogate in the content', entry('{"text":"a\\ud800b"}')],
    ['a lone low surrogate in a content key', entry('{"\\udc00":"x"}')],
    ['a NUL in an unknown field', `{"kind":"note","tier":"full","summary":"s","x\\u0000":1}`],
  ])('%s → 400 problem+json, nothing changed, nothing logged', async (_label, body) => {
    const before = await snapshot();
    const res = await entries().send(body);
    expectProblem(res, 400);
    expect(res.text).not.toContain('\\u0000');
    expect(await snapshot()).toEqual(before);
  });

  it('the legitimate twin: a shallow entry with real text (and a surrogate pair) is stored', async () => {
    const res = await entries().send(entry(`${'{"a":'.repeat(5)}"emoji \\ud83d\\ude00"${'}'.repeat(5)}`));
    expect(res.status, res.text).toBe(201);
  });

  it('a NUL in a query or in a token request is bad input too', async () => {
    const before = await snapshot();
    const q = await request(t.app).get('/v1/subjects?name=a%00b&dob=1969-07-20').set(bearer(clerk));
    expectProblem(q, 400);
    const token = await request(t.app)
      .post('/oauth/token')
      .type('application/json')
      .send('{"grant_type":"password","username":"a\\u0000b","password":"p","otp":"123456"}');
    expect(token.status).toBe(400);
    expect(token.body).toMatchObject({ error: 'invalid_request' });
    expect(await snapshot()).toEqual(before);
  });
});

describe('X-Request-Id', () => {
  it("two users sending the same X-Request-Id get distinct request ids, and each entry records the client's", async () => {
    const shared = `shared-${randomUUID().slice(0, 8)}`;
    const a = await request(t.app).get(`/v1/subjects/${subject.id}`).set(bearer(clerk)).set('X-Request-Id', shared);
    const b = await request(t.app).get(`/v1/subjects/${subject.id}`).set(bearer(clinician)).set('X-Request-Id', shared);
    expect(a.status).toBe(200);
    expect(b.status).toBe(200);
    expect(a.headers['x-request-id']).not.toBe(shared);
    expect(a.headers['x-request-id']).not.toBe(b.headers['x-request-id']);
    const { rows } = await database.admin('SELECT request_id, client_request_id, actor_user_id FROM access_log WHERE client_request_id = $1 ORDER BY seq', [
      shared,
    ]);
    expect(rows).toEqual([
      { request_id: a.headers['x-request-id'], client_request_id: shared, actor_user_id: clerk.userId },
      { request_id: b.headers['x-request-id'], client_request_id: shared, actor_user_id: clinician.userId },
    ]);
    // Compliance sees each one's own request id with the client's beside it.
    const events = await request(t.app).get('/v1/audit/events').query({ subject: subject.id, limit: 5 }).set(bearer(compliance));
    const mine = (events.body.events as { requestId: string; clientRequestId: string | null }[]).filter((e) => e.clientRequestId === shared);
    expect(mine.map((e) => e.requestId).sort()).toEqual([a.headers['x-request-id'], b.headers['x-request-id']].sort());
  });

  it('without an X-Request-Id the entry has none beside its own', async () => {
    const res = await request(t.app).get(`/v1/subjects/${subject.id}`).set(bearer(clerk));
    const { rows } = await database.admin('SELECT client_request_id FROM access_log WHERE request_id = $1', [res.headers['x-request-id']]);
    expect(rows).toEqual([{ client_request_id: null }]);
  });
});
