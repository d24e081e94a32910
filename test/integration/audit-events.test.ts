import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectNoMarkers, expectProblem, logOf as accessLogOf } from '../helpers/assertions.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { openTestDatabase, type TestDatabase } from '../helpers/db.js';
import { bearer, createAgency, createEntry, createSubject, createUser, type TestUser } from '../helpers/factories.js';

// GET /v1/audit/events: the compliance officer's search of the access log. Filters, cursor
// paging, CSV export; everyone else is refused, and that refusal is itself in the log.

let database: TestDatabase;
let t: TestApp;
let clinician: TestUser;
let officer: TestUser;
let clerk: TestUser;
let dispatcher: TestUser;
let compliance: TestUser;
let admin: TestUser;
let formula: TestUser; // a user whose name a spreadsheet would run as a formula
let police: { id: string; slug: string; kind: string };
let s1: { id: string; familyName: string; birthDate: string };
let s2: { id: string };
let s3: { id: string };
let markers: string[];
const rid: Record<string, string> = {};

interface Event {
  id: string;
  at: string;
  actor: { user: string | null; userId: string | null; agency: string | null; role: string | null };
  subject: string | null;
  action: string;
  decision: string;
  tier: string | null;
  basis: unknown[];
  breakGlass: boolean;
  requestId: string;
}

const logOf = (res: { headers: Record<string, string> }) => accessLogOf(database, res);
async function events(
  query: Record<string, string | number>,
  who: TestUser = compliance,
): Promise<{ events: Event[]; next: string | null; res: request.Response }> {
  const res = await request(t.app).get('/v1/audit/events').query(query).set(bearer(who));
  expect(res.status, res.text).toBe(200);
  return { events: res.body.events, next: res.body.next, res };
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** RFC 4180 parser, enough for the export: quoted cells, doubled quotes, CRLF rows. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') ((cell += '"'), i++);
      else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') (row.push(cell), (cell = ''));
    else if (c === '\r' && text[i + 1] === '\n') (row.push(cell), rows.push(row), (row = []), (cell = ''), i++);
    else cell += c;
  }
  if (cell || row.length) (row.push(cell), rows.push(row));
  return rows;
}

beforeAll(async () => {
  database = await openTestDatabase();
  t = await createTestApp(database.app);
  const db = t.deps.db;
  const [mh, gw] = await Promise.all([createAgency(db, 'mental_health'), createAgency(db, 'gateway')]);
  police = await createAgency(db, 'police');
  [clinician, officer, clerk, dispatcher, compliance, admin] = await Promise.all([
    createUser(t.deps, mh, 'clinician'),
    createUser(t.deps, police, 'officer'),
    createUser(t.deps, police, 'records_staff'),
    createUser(t.deps, police, 'dispatcher'),
    createUser(t.deps, gw, 'compliance_officer'),
    createUser(t.deps, gw, 'admin'),
  ]);
  // The username is the one free-text value an actor controls that reaches the export.
  formula = await createUser(t.deps, police, 'officer', `=HYPERLINK("http://evil.example","click")@${police.slug}`);

  s1 = await createSubject(db, clinician, { givenName: 'Ada', familyName: 'Auditee', birthDate: '1985-02-03' });
  s2 = await createSubject(db, clinician);
  s3 = await createSubject(db, clinician);
  markers = (await Promise.all([createEntry(db, s1.id, clinician, 'intermediate'), createEntry(db, s1.id, clinician, 'full', ['substance-use'])])).map(
    (e) => e.marker,
  );

  // The history the tests search, one request at a time so the order is known.
  const go = async (name: string, r: request.Test, status: number) => {
    const res = await r;
    expect(res.status, `${name}: ${res.text}`).toBe(status);
    rid[name] = res.headers['x-request-id'] as string;
  };
  await go('clinicianReadsS1', request(t.app).get(`/v1/subjects/${s1.id}`).set(bearer(clinician)), 200);
  await go('officerReadsS1', request(t.app).get(`/v1/subjects/${s1.id}`).set(bearer(officer)), 200);
  await go('officerSearchesS1', request(t.app).get('/v1/subjects').query({ name: s1.familyName, dob: s1.birthDate }).set(bearer(officer)), 200);
  await go(
    'dispatcherWritesS1',
    request(t.app).post(`/v1/subjects/${s1.id}/entries`).set(bearer(dispatcher)).send({ kind: 'note', tier: 'full', summary: 'x' }),
    403,
  );
  await go('clerkReadsS2', request(t.app).get(`/v1/subjects/${s2.id}`).set(bearer(clerk)), 200);
  await go('formulaReadsS2', request(t.app).get(`/v1/subjects/${s2.id}`).set(bearer(formula)), 200);
  for (let i = 0; i < 5; i++) await go(`officerReadsS3_${i}`, request(t.app).get(`/v1/subjects/${s3.id}`).set(bearer(officer)), 200);
});
afterAll(() => database?.close());

describe('GET /v1/audit/events (compliance officer)', () => {
  it('answers the SPEC shape, newest first, and logs the search itself', async () => {
    const { events: list, next, res } = await events({ subject: s1.id });
    expect(Object.keys(res.body).sort()).toEqual(['events', 'freshness', 'next']);
    expect(next).toBeNull();
    for (const e of list) {
      expect(e).toMatchObject({
        id: expect.any(String),
        at: expect.any(String),
        actor: { user: expect.any(String), agency: expect.any(String), role: expect.any(String) },
        action: expect.any(String),
        decision: expect.stringMatching(/^(allow|deny)$/),
        basis: expect.any(Array),
        breakGlass: false,
      });
      expect(e).toHaveProperty('subject');
      expect(e).toHaveProperty('tier');
      expect(Number.isNaN(Date.parse(e.at))).toBe(false);
    }
    expect(list.map((e) => e.requestId)).toEqual([rid.dispatcherWritesS1, rid.officerSearchesS1, rid.officerReadsS1, rid.clinicianReadsS1]);
    expectNoMarkers(res, markers);
    expect(await logOf(res)).toEqual([
      expect.objectContaining({ action: 'audit.read', decision: 'allow', actor_user_id: compliance.userId, subject_id: null }),
    ]);
  });

  it('filters by subject, including searches that disclosed the subject', async () => {
    const { events: list } = await events({ subject: s1.id });
    const search = list.find((e) => e.requestId === rid.officerSearchesS1)!;
    expect(search).toMatchObject({ action: 'subject.search', subject: null, actor: { user: officer.username } });
    for (const e of list.filter((x) => x !== search)) expect(e.subject).toBe(s1.id);
    const other = await events({ subject: s2.id });
    expect(other.events.map((e) => e.requestId)).toEqual([rid.formulaReadsS2, rid.clerkReadsS2]);
  });

  it('filters by actor, by username or by user id alike', async () => {
    const byName = await events({ actor: officer.username });
    const byId = await events({ actor: officer.userId });
    expect(byName.events.length).toBe(7); // read S1, search, five reads of S3
    expect(byName.events.map((e) => e.id)).toEqual(byId.events.map((e) => e.id));
    for (const e of byName.events) expect(e.actor).toMatchObject({ user: officer.username, userId: officer.userId, agency: police.slug, role: 'officer' });
    expect((await events({ actor: 'nobody@nowhere' })).events).toEqual([]);
  });

  it('filters by agency and by action', async () => {
    const byAgency = await events({ agency: police.slug, limit: 200 });
    expect(byAgency.events.length).toBe(10); // the officer's 7, the dispatcher's, the clerk's and the formula user's
    for (const e of byAgency.events) expect(e.actor.agency).toBe(police.slug);
    const reads = await events({ action: 'subject.read', agency: police.slug, limit: 200 });
    expect(reads.events.length).toBe(8); // officer: S1 and five of S3; clerk and formula user: S2
    for (const e of reads.events) expect(e.action).toBe('subject.read');
    const searches = await events({ action: 'subject.search' });
    expect(searches.events.map((e) => e.requestId)).toEqual([rid.officerSearchesS1]);
  });

  it('filters by decision=deny', async () => {
    const { events: denials } = await events({ decision: 'deny', limit: 200 });
    expect(denials.length).toBeGreaterThan(0);
    for (const e of denials) expect(e.decision).toBe('deny');
    expect(denials.map((e) => e.requestId)).toContain(rid.dispatcherWritesS1);
    const { events: s1Denials } = await events({ decision: 'deny', subject: s1.id });
    expect(s1Denials).toEqual([
      expect.objectContaining({
        requestId: rid.dispatcherWritesS1,
        action: 'entry.create',
        decision: 'deny',
        tier: null,
        actor: expect.objectContaining({ user: dispatcher.username }),
      }),
    ]);
    const { events: allows } = await events({ decision: 'allow', subject: s1.id });
    expect(allows.every((e) => e.decision === 'allow')).toBe(true);
    expect(allows.length).toBe(3);
  });

  it('filters by time: from is inclusive, to exclusive, and from must precede to', async () => {
    const s4 = await createSubject(t.deps.db, clinician);
    await request(t.app).get(`/v1/subjects/${s4.id}`).set(bearer(officer)).expect(200);
    await sleep(20);
    const mark = new Date().toISOString();
    await sleep(20);
    const later = await request(t.app).get(`/v1/subjects/${s4.id}`).set(bearer(clerk)).expect(200);
    const after = await events({ subject: s4.id, from: mark });
    expect(after.events.map((e) => e.requestId)).toEqual([later.headers['x-request-id']]);
    const before = await events({ subject: s4.id, to: mark });
    expect(before.events).toHaveLength(1);
    expect(before.events[0]!.actor.user).toBe(officer.username);
    const window = await events({ subject: s4.id, from: new Date(Date.now() - 3_600_000).toISOString(), to: new Date(Date.now() + 60_000).toISOString() });
    expect(window.events).toHaveLength(2);
    expectProblem(await request(t.app).get('/v1/audit/events').query({ from: mark, to: mark }).set(bearer(compliance)), 400);
    expectProblem(await request(t.app).get('/v1/audit/events').query({ from: 'yesterday' }).set(bearer(compliance)), 400);
  });

  it('pages with a cursor: limit=2 gives next; following it returns the rest with no duplicates', async () => {
    const all = await events({ subject: s3.id });
    expect(all.events).toHaveLength(5);
    const seen: string[] = [];
    let cursor: string | null = null;
    const sizes: number[] = [];
    do {
      const page: Awaited<ReturnType<typeof events>> = await events({ subject: s3.id, limit: 2, ...(cursor ? { cursor } : {}) });
      sizes.push(page.events.length);
      seen.push(...page.events.map((e) => e.id));
      cursor = page.next;
      if (cursor) expect(cursor).toMatch(/^[0-9]+$/);
    } while (cursor && sizes.length < 10);
    expect(sizes).toEqual([2, 2, 1]);
    expect(new Set(seen).size).toBe(5);
    expect(seen).toEqual(all.events.map((e) => e.id));
  });

  it('a page that ends exactly at the last event has no next', async () => {
    const page = await events({ subject: s2.id, limit: 2 });
    expect(page.events).toHaveLength(2);
    expect(page.next).toBeNull();
  });

  it('rejects bad queries with 400', async () => {
    for (const q of [
      'cursor=abc',
      'limit=0',
      'limit=201',
      'decision=maybe',
      'subject=nope',
      'action=subject.delete',
      'agency=Metro%20Police',
      'unknown=1',
      'format=xml',
    ]) {
      expectProblem(await request(t.app).get(`/v1/audit/events?${q}`).set(bearer(compliance)), 400);
    }
  });
});

describe('GET /v1/audit/events?format=csv', () => {
  it('exports text/csv with a header row, no clinical content, and formula cells neutralised', async () => {
    const json = await events({ agency: police.slug, limit: 200 });
    const res = await request(t.app).get('/v1/audit/events').query({ format: 'csv', agency: police.slug }).set(bearer(compliance));
    expect(res.status, res.text).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/csv/);
    expect(res.headers['content-disposition']).toMatch(/^attachment/);
    const rows = parseCsv(res.text);
    expect(rows[0]).toEqual([
      'id',
      'at',
      'actor_user',
      'actor_agency',
      'actor_role',
      'actor_client',
      'subject',
      'action',
      'decision',
      'tier',
      'basis',
      'break_glass',
      'reason',
      'request_id',
      'client_request_id',
    ]);
    const body = rows.slice(1);
    expect(body.map((r) => r[0])).toEqual(json.events.map((e) => e.id));
    for (const r of body) expect(r).toHaveLength(15);
    const formulaRow = body.find((r) => r[13] === rid.formulaReadsS2)!;
    expect(formulaRow).toBeDefined();
    expect(formulaRow[2]).toBe(`'${formula.username}`);
    expect(formulaRow[6]).toBe(s2.id);
    // No cell may begin with a character a spreadsheet runs as a formula.
    for (const r of body) for (const cell of r) expect(cell).not.toMatch(/^[=+\-@\t\r]/);
    expect(res.text).not.toMatch(/(^|[,\n])=HYPERLINK/);
    expectNoMarkers(res, markers);
    expect(await logOf(res)).toEqual([expect.objectContaining({ action: 'audit.read', decision: 'allow' })]);
  });

  it('filters the export like the JSON search', async () => {
    const res = await request(t.app).get('/v1/audit/events').query({ format: 'csv', subject: s1.id }).set(bearer(compliance));
    expect(res.status).toBe(200);
    const rows = parseCsv(res.text).slice(1);
    expect(rows.map((r) => r[13])).toEqual([rid.dispatcherWritesS1, rid.officerSearchesS1, rid.officerReadsS1, rid.clinicianReadsS1]);
    expectNoMarkers(res, markers);
  });
});

describe('everyone but compliance is refused', () => {
  it.each([
    ['clinician', () => clinician],
    ['records_staff', () => clerk],
    ['officer', () => officer],
    ['admin', () => admin],
  ])('a %s gets 403 (JSON and CSV), and the refusal is itself logged', async (_role, who) => {
    for (const query of [{ subject: s1.id }, { format: 'csv' }]) {
      const res = await request(t.app).get('/v1/audit/events').query(query).set(bearer(who()));
      expectProblem(res, 403);
      expect(res.text).not.toContain(s1.id);
      expect(res.text).not.toContain(rid.clinicianReadsS1!);
      expectNoMarkers(res, markers);
      const log = await logOf(res);
      expect(log).toEqual([
        expect.objectContaining({ action: 'audit.read', decision: 'deny', reason: 'no-rule:read:AuditEvent', actor_user_id: who().userId }),
      ]);
      // …and the compliance officer finds it.
      const found = await events({ actor: who().userId, action: 'audit.read', decision: 'deny' });
      expect(found.events.map((e) => e.requestId)).toContain(res.headers['x-request-id']);
    }
  });

  it('no token: 401, logged as an authentication failure', async () => {
    const res = await request(t.app).get('/v1/audit/events');
    expectProblem(res, 401);
    // RFC 6750 3.1: a request without credentials gets the challenge but no error code.
    expect(res.headers['www-authenticate']).toBe('Bearer realm="tiergate"');
    const bad = await request(t.app).get('/v1/audit/events').set('Authorization', 'Bearer a.b.c');
    expect(bad.headers['www-authenticate']).toBe('Bearer realm="tiergate", error="invalid_token"');
    expect(await logOf(res)).toEqual([expect.objectContaining({ action: 'authenticate', decision: 'deny', reason: 'token_missing' })]);
  });
});
