import { sql } from 'drizzle-orm';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectProblem, logOf as accessLogOf } from '../helpers/assertions.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { openTestDatabase, type TestDatabase } from '../helpers/db.js';
import { bearer, createAgency, createEntry, createSubject, createUser, type TestUser } from '../helpers/factories.js';

// The compliance officer's break-glass review queue: GET /v1/audit/break-glass lists grants no
// one has reviewed yet, newest first, with the reason and the accesses made under each;
// POST /v1/audit/break-glass/:id/review appends a review (append-only) and takes the grant off
// the queue. Everyone else is refused, and every call, allowed or refused, is in the log.

let database: TestDatabase;
let t: TestApp;
let contributor: TestUser;
let clinician: TestUser; // declares on S1 and reads under it
let doctor: TestUser; // declares on S2, reads nothing
let clerk: TestUser;
let compliance: TestUser;
let compliance2: TestUser;
let admin: TestUser;
let s1: { id: string };
let s2: { id: string };
let markers: string[];
let grant1: string;
let grant2: string;
const REASON_1 = 'Caller reports overdose in progress at the address, need the crisis plan';
const REASON_2 = 'Unconscious patient brought in by ambulance, no history available';
const NOTE = 'Checked with the on-call supervisor: overdose call 24-118 confirmed';

interface Grant {
  id: string;
  subjectId: string;
  user: { user: string; userId: string };
  agency: string;
  tier: string;
  reason: string;
  createdAt: string;
  expiresAt: string;
  active: boolean;
  accesses: number;
  lastAccessAt: string | null;
  reviews: { id: string; decision: string; note: string | null; reviewer: string; reviewedAt: string }[];
}

const logOf = (res: { headers: Record<string, string> }) => accessLogOf(database, res);
async function reviewRows(grantId: string) {
  return (await database.admin('SELECT * FROM break_glass_reviews WHERE grant_id = $1 ORDER BY reviewed_at, id', [grantId])).rows;
}
const queue = (query: Record<string, string> = {}, who: TestUser = compliance) => request(t.app).get('/v1/audit/break-glass').query(query).set(bearer(who));
async function grantsIn(query: Record<string, string> = {}): Promise<Grant[]> {
  const res = await queue(query);
  expect(res.status, res.text).toBe(200);
  return res.body.grants;
}
const review = (id: string, body: unknown, who: TestUser = compliance) =>
  request(t.app)
    .post(`/v1/audit/break-glass/${id}/review`)
    .set(bearer(who))
    .send(body as object);

beforeAll(async () => {
  database = await openTestDatabase();
  t = await createTestApp(database.app);
  const db = t.deps.db;
  const [mh, mh2, hosp, police, gw] = await Promise.all([
    createAgency(db, 'mental_health'),
    createAgency(db, 'mental_health'),
    createAgency(db, 'hospital'),
    createAgency(db, 'police'),
    createAgency(db, 'gateway'),
  ]);
  [contributor, clinician, doctor, clerk, compliance, compliance2, admin] = await Promise.all([
    createUser(t.deps, mh, 'clinician'),
    createUser(t.deps, mh2, 'clinician'),
    createUser(t.deps, hosp, 'clinician'),
    createUser(t.deps, police, 'records_staff'),
    createUser(t.deps, gw, 'compliance_officer'),
    createUser(t.deps, gw, 'compliance_officer'),
    createUser(t.deps, gw, 'admin'),
  ]);
  s1 = await createSubject(db, contributor);
  s2 = await createSubject(db, contributor);
  markers = [
    (await createEntry(db, s1.id, contributor, 'intermediate', [], 'crisis-plan')).marker,
    (await createEntry(db, s2.id, contributor, 'intermediate')).marker,
  ];

  const declare = async (u: TestUser, subjectId: string, reason: string) => {
    const res = await request(t.app).post(`/v1/subjects/${subjectId}/break-glass`).set(bearer(u)).send({ reason });
    expect(res.status, res.text).toBe(201);
    return res.body.id as string;
  };
  const read = async (u: TestUser, subjectId: string) => expect((await request(t.app).get(`/v1/subjects/${subjectId}`).set(bearer(u))).status).toBe(200);
  grant1 = await declare(clinician, s1.id, REASON_1);
  await read(clinician, s1.id);
  await read(clinician, s1.id);
  await read(clerk, s1.id); // not under the grant
  await read(clinician, s2.id); // another person: not under the grant
  await new Promise((r) => setTimeout(r, 20));
  grant2 = await declare(doctor, s2.id, REASON_2);
});
afterAll(() => database?.close());

describe('GET /v1/audit/break-glass', () => {
  it('lists grants awaiting review, newest first, with reason and accesses made under each', async () => {
    const res = await queue();
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ status: 'awaiting', total: 2 });
    const list: Grant[] = res.body.grants;
    expect(list.map((g) => g.id)).toEqual([grant2, grant1]);
    const [g2, g1] = list;
    expect(g1).toMatchObject({
      id: grant1,
      subjectId: s1.id,
      user: { user: clinician.username, userId: clinician.userId },
      agency: clinician.agency,
      tier: 'intermediate',
      reason: REASON_1,
      active: true,
      accesses: 2,
      reviews: [],
    });
    expect(Date.parse(g1!.expiresAt)).toBeGreaterThan(Date.parse(g1!.createdAt));
    expect(Date.parse(g1!.lastAccessAt!)).toBeGreaterThanOrEqual(Date.parse(g1!.createdAt));
    expect(g2).toMatchObject({
      id: grant2,
      subjectId: s2.id,
      user: { user: doctor.username },
      agency: doctor.agency,
      reason: REASON_2,
      accesses: 0,
      lastAccessAt: null,
    });
    // Compliance reads the reason, never the clinical content read under the grant.
    for (const m of markers) expect(res.text).not.toContain(m);
  });

  it('counts exactly the allowed break-glass reads whose basis names the grant', async () => {
    const { rows } = await database.admin(
      `SELECT count(*)::int AS n FROM access_log WHERE break_glass AND basis @> $1::jsonb AND action = 'subject.read' AND decision = 'allow'`,
      [JSON.stringify([{ breakGlassId: grant1 }])],
    );
    expect(rows[0]!.n).toBe(2);
    const declared = await database.admin(`SELECT count(*)::int AS n FROM access_log WHERE basis @> $1::jsonb AND action = 'break-glass.declare'`, [
      JSON.stringify([{ breakGlassId: grant1 }]),
    ]);
    expect(declared.rows[0]!.n).toBe(1); // the declaration itself is not an access
  });

  it('logs the read: which grants were shown, never their reasons', async () => {
    const res = await queue();
    const log = await logOf(res);
    expect(log).toEqual([
      expect.objectContaining({
        action: 'audit.break-glass.read',
        decision: 'allow',
        actor_user_id: compliance.userId,
        detail: expect.objectContaining({ grantIds: [grant2, grant1], returned: 2 }),
      }),
    ]);
    const all = await database.admin('SELECT * FROM access_log');
    for (const reason of [REASON_1, REASON_2]) expect(JSON.stringify(all.rows)).not.toContain(reason);
  });

  it('rejects bad queries with 400', async () => {
    for (const q of ['status=pending', 'limit=0', 'limit=201', 'unknown=1'])
      expectProblem(await request(t.app).get(`/v1/audit/break-glass?${q}`).set(bearer(compliance)), 400);
  });
});

describe('POST /v1/audit/break-glass/:id/review', () => {
  it('appends a review (201); the grant leaves the queue; a second review is a new row', async () => {
    const res = await review(grant1, { decision: 'justified', note: NOTE });
    expect(res.status, res.text).toBe(201);
    expect(res.body).toMatchObject({
      id: expect.any(String),
      grantId: grant1,
      decision: 'justified',
      note: NOTE,
      reviewer: { user: compliance.username, userId: compliance.userId },
    });
    expect(Number.isNaN(Date.parse(res.body.reviewedAt))).toBe(false);
    expect(await logOf(res)).toEqual([
      expect.objectContaining({
        action: 'audit.break-glass.review',
        decision: 'allow',
        subject_id: s1.id,
        detail: { grantId: grant1, reviewId: res.body.id, decision: 'justified' },
      }),
    ]);
    expect(JSON.stringify(await logOf(res))).not.toContain(NOTE);

    expect((await grantsIn()).map((g) => g.id)).toEqual([grant2]);
    const reviewed = await grantsIn({ status: 'reviewed' });
    expect(reviewed.map((g) => g.id)).toEqual([grant1]);
    expect(reviewed[0]!.reviews).toEqual([
      { id: res.body.id, decision: 'justified', note: NOTE, reviewer: compliance.username, reviewedAt: res.body.reviewedAt },
    ]);

    // A changed mind is a new review by another officer; the first one stays.
    const second = await review(grant1, { decision: 'needs-follow-up', note: 'Call number does not match CAD' }, compliance2);
    expect(second.status, second.text).toBe(201);
    const rows = await reviewRows(grant1);
    expect(rows.map((r) => [r.decision, r.reviewer_id])).toEqual([
      ['justified', compliance.userId],
      ['needs-follow-up', compliance2.userId],
    ]);
    expect((await grantsIn({ status: 'reviewed' }))[0]!.reviews.map((r) => r.decision)).toEqual(['justified', 'needs-follow-up']);
    expect((await grantsIn({ status: 'all' })).map((g) => g.id)).toEqual([grant2, grant1]);
  });

  it('the note is optional; every decision is accepted', async () => {
    const res = await review(grant2, { decision: 'unjustified' });
    expect(res.status, res.text).toBe(201);
    expect(res.body).toMatchObject({ decision: 'unjustified', note: null });
    expect(await grantsIn()).toEqual([]);
    expect((await queue()).body.total).toBe(0);
  });

  it('reviews are append-only in the database', async () => {
    await expect(t.deps.db.execute(sql`UPDATE break_glass_reviews SET decision = 'justified' WHERE grant_id = ${grant2}`)).rejects.toThrow();
    await expect(t.deps.db.execute(sql`DELETE FROM break_glass_reviews WHERE grant_id = ${grant2}`)).rejects.toThrow();
    expect((await reviewRows(grant2)).map((r) => r.decision)).toEqual(['unjustified']);
  });

  it('an unknown grant: 404, nothing written, the refusal logged', async () => {
    const id = '00000000-0000-4000-8000-000000000000';
    const res = await review(id, { decision: 'justified', note: 'x' });
    expectProblem(res, 404);
    expect(await reviewRows(id)).toEqual([]);
    expect(await logOf(res)).toEqual([
      expect.objectContaining({ action: 'audit.break-glass.review', decision: 'deny', reason: 'not-found', detail: { grantId: id } }),
    ]);
  });

  it('bad input: 400, nothing written', async () => {
    const before = (await reviewRows(grant1)).length;
    for (const body of [
      {},
      { decision: 'fine' },
      { decision: 'justified', note: '' },
      { decision: 'justified', extra: 1 },
      { decision: 'justified', note: 'a\u0000b' },
      { decision: 'justified', note: 'x'.repeat(2001) },
    ]) {
      expectProblem(await review(grant1, body), 400);
    }
    expectProblem(await review('not-a-uuid', { decision: 'justified' }), 400);
    expect((await reviewRows(grant1)).length).toBe(before);
  });
});

describe('everyone but compliance is refused', () => {
  it.each([
    ['records_staff', () => clerk],
    ['clinician (the grant holder)', () => clinician],
    ['hospital clinician', () => doctor],
    ['admin', () => admin],
  ])('a %s gets 403 on the queue and on a review; nothing written; refusals logged', async (_role, who) => {
    const list = await queue({}, who());
    expectProblem(list, 403);
    expect(list.text).not.toContain(REASON_1);
    expect(await logOf(list)).toEqual([
      expect.objectContaining({ action: 'audit.break-glass.read', decision: 'deny', reason: 'no-rule:read:AuditEvent', actor_user_id: who().userId }),
    ]);
    const before = (await reviewRows(grant1)).length;
    const post = await review(grant1, { decision: 'justified', note: 'self-approval' }, who());
    expectProblem(post, 403);
    expect((await reviewRows(grant1)).length).toBe(before);
    expect(await logOf(post)).toEqual([
      expect.objectContaining({ action: 'audit.break-glass.review', decision: 'deny', reason: 'no-rule:read:AuditEvent', actor_user_id: who().userId }),
    ]);
  });

  it('no token: 401', async () => {
    expectProblem(await request(t.app).get('/v1/audit/break-glass'), 401);
    expectProblem(await request(t.app).post(`/v1/audit/break-glass/${grant1}/review`).send({ decision: 'justified' }), 401);
  });
});
