import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectNoMarkers, expectProblem, logOf as accessLogOf } from '../helpers/assertions.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { openTestDatabase, type TestDatabase } from '../helpers/db.js';
import { bearer, createAgency, createEntry, createSubject, createUser, type TestUser } from '../helpers/factories.js';

// Break-glass through HTTP: a declared emergency with a reason gives the declaring user the
// policy's tier (intermediate) for a limited time, flagged in the log. Each allow has its twin.

let database: TestDatabase;
let t: TestApp;
let clinician: TestUser;
let colleague: TestUser; // same agency and role, did not declare
let doctor: TestUser;
let clerk: TestUser;
let peer: TestUser;
let officer: TestUser;
let socialWorker: TestUser;
let compliance: TestUser;
let contributor: TestUser;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const REASON = 'Subject barricaded, threatening self-harm; responding unit needs the crisis plan';

const logOf = (res: { headers: Record<string, string> }) => accessLogOf(database, res);
async function grantCount(subjectId: string): Promise<number> {
  const { rows } = await database.admin('SELECT count(*) AS n FROM break_glass_grants WHERE subject_id = $1', [subjectId]);
  return Number(rows[0]!.n);
}

async function person() {
  const s = await createSubject(t.deps.db, contributor);
  const [inter, sud, full] = await Promise.all([
    createEntry(t.deps.db, s.id, contributor, 'intermediate', [], 'crisis-plan'),
    createEntry(t.deps.db, s.id, contributor, 'intermediate', ['substance-use'], 'treatment'),
    createEntry(t.deps.db, s.id, contributor, 'full', [], 'note'),
  ]);
  return { id: s.id, inter: inter.marker, sud: sud.marker, full: full.marker, all: [inter.marker, sud.marker, full.marker] };
}

const declare = (u: TestUser, subjectId: string, reason: unknown = REASON) =>
  request(t.app).post(`/v1/subjects/${subjectId}/break-glass`).set(bearer(u)).send({ reason });
const read = (u: TestUser, subjectId: string) => request(t.app).get(`/v1/subjects/${subjectId}`).set(bearer(u));

function expectBasicRead(res: request.Response, p: Awaited<ReturnType<typeof person>>) {
  expect(res.status, res.text).toBe(200);
  expect(res.body.access).toEqual({ tier: 'basic', basis: [{ tier: 'basic', rule: 'partner-read' }], withheld: ['intermediate', 'full'] });
  expectNoMarkers(res, p.all);
}

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
  [clinician, colleague, doctor, clerk, peer, officer, socialWorker, compliance, contributor] = await Promise.all([
    createUser(t.deps, mh, 'clinician'),
    createUser(t.deps, mh, 'clinician'),
    createUser(t.deps, hosp, 'clinician'),
    createUser(t.deps, police, 'records_staff'),
    createUser(t.deps, mh, 'peer_specialist'),
    createUser(t.deps, police, 'officer'),
    createUser(t.deps, hosp, 'social_worker'),
    createUser(t.deps, gw, 'compliance_officer'),
    createUser(t.deps, mh2, 'clinician'),
  ]);
});
afterAll(() => database?.close());

describe('POST /v1/subjects/:id/break-glass', () => {
  it('a clinician declares with a reason: 201 {id,tier:"intermediate",expiresAt}; the next read is intermediate on a break-glass basis and flagged in the log', async () => {
    const p = await person();
    const before = await read(clinician, p.id);
    expectBasicRead(before, p);
    expect(await logOf(before)).toEqual([expect.objectContaining({ action: 'subject.read', tier: 'basic', break_glass: false })]);

    const started = Date.now();
    const res = await declare(clinician, p.id);
    expect(res.status, res.text).toBe(201);
    expect(res.body).toMatchObject({ id: expect.stringMatching(UUID), tier: 'intermediate', expiresAt: expect.any(String) });
    const expiresIn = Date.parse(res.body.expiresAt) - started;
    expect(expiresIn).toBeGreaterThan(59 * 60_000);
    expect(expiresIn).toBeLessThanOrEqual(61 * 60_000);
    expectNoMarkers(res, p.all);
    const declared = await logOf(res);
    expect(declared).toEqual([
      expect.objectContaining({
        action: 'break-glass.declare',
        decision: 'allow',
        subject_id: p.id,
        tier: 'intermediate',
        break_glass: true,
        actor_user_id: clinician.userId,
      }),
    ]);
    // The free-text reason may name the person: it stays with the grant, out of the log.
    expect(JSON.stringify(declared)).not.toContain('barricaded');
    const { rows } = await database.admin('SELECT user_id, tier, reason FROM break_glass_grants WHERE id = $1', [res.body.id]);
    expect(rows).toEqual([{ user_id: clinician.userId, tier: 'intermediate', reason: REASON }]);

    const after = await read(clinician, p.id);
    expect(after.status, after.text).toBe(200);
    expect(after.body.access.tier).toBe('intermediate');
    expect(after.body.access.withheld).toEqual(['full']);
    expect(after.body.access.basis).toContainEqual({ tier: 'intermediate', rule: 'break-glass', breakGlassId: res.body.id });
    expect(after.text).toContain(p.inter);
    // Break-glass releases no sensitive category and never the full tier.
    expectNoMarkers(after, [p.sud, p.full]);
    const log = await logOf(after);
    expect(log).toEqual([expect.objectContaining({ action: 'subject.read', decision: 'allow', subject_id: p.id, tier: 'intermediate', break_glass: true })]);
    expect(log[0]!.basis).toContainEqual({ tier: 'intermediate', rule: 'break-glass', breakGlassId: res.body.id });
  });

  it('the grant is personal: a colleague of the same agency and role still gets basic', async () => {
    const p = await person();
    await declare(clinician, p.id).expect(201);
    const res = await read(colleague, p.id);
    expectBasicRead(res, p);
    expect(await logOf(res)).toEqual([expect.objectContaining({ break_glass: false, tier: 'basic' })]);
  });

  it('a hospital clinician may declare too', async () => {
    const p = await person();
    const res = await declare(doctor, p.id);
    expect(res.status, res.text).toBe(201);
    expect((await read(doctor, p.id)).body.access.tier).toBe('intermediate');
  });

  it.each([
    ['records_staff', () => clerk],
    ['peer_specialist', () => peer],
    ['officer', () => officer],
    ['social_worker', () => socialWorker],
    ['compliance_officer', () => compliance],
  ])('a %s cannot declare: 403, no grant, the refusal is logged against the subject, and the next read stays basic', async (_role, who) => {
    const p = await person();
    const res = await declare(who(), p.id);
    expectProblem(res, 403);
    expect(await grantCount(p.id)).toBe(0);
    expect(await logOf(res)).toEqual([
      expect.objectContaining({
        action: 'break-glass.declare',
        decision: 'deny',
        reason: 'no-rule:create:BreakGlass',
        subject_id: p.id,
        actor_user_id: who().userId,
      }),
    ]);
    if (who() !== compliance) expectBasicRead(await read(who(), p.id), p);
  });

  it.each([
    ['a short reason', 'urgent'],
    ['a reason that is short once trimmed', '   urgent!     '],
    ['an empty reason', ''],
    ['a reason that is not text', 42],
  ])('%s is 400 and grants nothing', async (_what, reason) => {
    const p = await person();
    const res = await declare(clinician, p.id, reason);
    expectProblem(res, 400);
    expect(await grantCount(p.id)).toBe(0);
    expectBasicRead(await read(clinician, p.id), p);
  });

  it('no reason at all, or an extra field, is 400', async () => {
    const p = await person();
    expectProblem(await request(t.app).post(`/v1/subjects/${p.id}/break-glass`).set(bearer(clinician)).send({}), 400);
    expectProblem(await request(t.app).post(`/v1/subjects/${p.id}/break-glass`).set(bearer(clinician)).send({ reason: REASON, tier: 'full' }), 400);
    expect(await grantCount(p.id)).toBe(0);
  });

  it('an unknown subject is 404 (logged as a denial) and grants nothing', async () => {
    const unknown = '00000000-0000-4000-8000-000000000000';
    const res = await declare(clinician, unknown);
    expectProblem(res, 404);
    expect(await logOf(res)).toEqual([expect.objectContaining({ action: 'break-glass.declare', decision: 'deny', subject_id: unknown, reason: 'not-found' })]);
    expect(await grantCount(unknown)).toBe(0);
  });

  it('an expired grant gives nothing: the read is basic, with no break-glass basis or flag', async () => {
    const p = await person();
    const res = await declare(doctor, p.id);
    expect(res.status).toBe(201);
    expect((await read(doctor, p.id)).body.access.tier).toBe('intermediate');
    // An hour passes (as the superuser, past the trigger that keeps grants unchanged).
    await database.admin(
      `BEGIN; SET LOCAL session_replication_role = replica; UPDATE break_glass_grants SET expires_at = now() - interval '1 minute' WHERE id = '${res.body.id}'; COMMIT;`,
    );
    const after = await read(doctor, p.id);
    expectBasicRead(after, p);
    expect(await logOf(after)).toEqual([expect.objectContaining({ action: 'subject.read', tier: 'basic', break_glass: false })]);
  });

  it('a malformed subject id is 400', async () => {
    expectProblem(await request(t.app).post('/v1/subjects/nope/break-glass').set(bearer(clinician)).send({ reason: REASON }), 400);
  });
});

// Issue 9 item 6: one live grant per user and person, renewals with a new reason and flagged,
// a per-user daily cap from the policy, and reasons that carry real words.
describe('break-glass limits', () => {
  const queueOf = async (grantId: string) => {
    const res = await request(t.app).get('/v1/audit/break-glass?status=all&limit=200').set(bearer(compliance));
    expect(res.status).toBe(200);
    return (res.body.grants as { id: string; renewal: boolean; renewalOf: string | null; reason: string }[]).find((g) => g.id === grantId);
  };
  const renew = (u: TestUser, subjectId: string, reason: string) =>
    request(t.app).post(`/v1/subjects/${subjectId}/break-glass`).set(bearer(u)).send({ reason, renew: true });

  it('a second grant while one is live is refused 409 and logged; a renewal needs a new reason and is flagged in the log and the review queue', async () => {
    const u = await createUser(t.deps, { id: clinician.agencyId, slug: clinician.agency, kind: 'mental_health' }, 'clinician');
    const p = await person();
    const first = await declare(u, p.id);
    expect(first.status, first.text).toBe(201);

    const again = await declare(u, p.id);
    expectProblem(again, 409);
    expect(await grantCount(p.id)).toBe(1);
    expect(await logOf(again)).toEqual([
      expect.objectContaining({ action: 'break-glass.declare', decision: 'deny', reason: 'break-glass-live', subject_id: p.id, break_glass: true }),
    ]);
    // A renewal with the same reason (however spaced or invisibly padded) is refused too.
    expectProblem(await renew(u, p.id, ` ${REASON.replace(' ', '\u200b ')}  `), 409);
    expect(await grantCount(p.id)).toBe(1);

    const renewed = await renew(u, p.id, 'Still barricaded after two hours; negotiator needs the crisis plan again');
    expect(renewed.status, renewed.text).toBe(201);
    expect(renewed.body).toMatchObject({ renewalOf: first.body.id, tier: 'intermediate' });
    expect(await logOf(renewed)).toEqual([
      expect.objectContaining({
        action: 'break-glass.declare',
        decision: 'allow',
        break_glass: true,
        reason: 'break-glass-renewal',
        detail: { breakGlassId: renewed.body.id, renewalOf: first.body.id },
      }),
    ]);
    expect(await queueOf(renewed.body.id)).toMatchObject({ renewal: true, renewalOf: first.body.id });
    expect(await queueOf(first.body.id)).toMatchObject({ renewal: false, renewalOf: null });

    // Renewing needs a live grant; another user's grant for the same person is theirs alone.
    expectProblem(await renew(colleague, p.id, 'Colleague arriving on scene, needs the crisis plan'), 409);
    expect((await declare(colleague, p.id)).status).toBe(201);
  });

  it('a per-user daily cap from the policy: the declaration past breakGlass.maxPerDay is 403 and logged', async () => {
    const max = t.deps.pdp.policy.breakGlass.maxPerDay;
    const u = await createUser(t.deps, { id: doctor.agencyId, slug: doctor.agency, kind: 'hospital' }, 'clinician');
    for (let i = 0; i < max; i++) expect((await declare(u, (await person()).id)).status).toBe(201);
    const p = await person();
    const over = await declare(u, p.id);
    expectProblem(over, 403);
    expect(await grantCount(p.id)).toBe(0);
    expect(await logOf(over)).toEqual([expect.objectContaining({ action: 'break-glass.declare', decision: 'deny', reason: 'break-glass-daily-cap' })]);
    expectBasicRead(await read(u, p.id), p);
    // The cap is per user: a colleague still declares.
    expect((await declare(doctor, p.id)).status).toBe(201);
  });

  it.each([
    ['padded with spaces', `help${' '.repeat(20)}me`],
    ['padded with a repeated character', 'help..........................'],
    ['zero-width characters', `help${'\u200b'.repeat(30)}`],
    ['zero-width characters between letters', 'u\u200br\u200bg\u200be\u200bn\u200bt\u200b!\u200b!\u200b!\u200b!'],
    ['one letter repeated', 'aaaaaaaaaaaaaaaaaaaa'],
    ['repeated characters in words', 'aaaa bbbb cccc dddd eeee'],
    ['the same word again and again', 'help help help help help'],
    ['digits and symbols only', '1234567890 !@#$%^&*() 1234567890'],
    ['full-width padding that folds to one letter', 'ｘｘｘｘｘｘｘｘｘｘｘｘ'],
  ])('a reason %s is 400 and grants nothing', async (_what, reason) => {
    const p = await person();
    const res = await declare(clinician, p.id, reason);
    expectProblem(res, 400);
    expect(await grantCount(p.id)).toBe(0);
    expectBasicRead(await read(clinician, p.id), p);
  });

  it('the twin: a real reason is accepted, stored without its invisible characters', async () => {
    const p = await person();
    const u = await createUser(t.deps, { id: clinician.agencyId, slug: clinician.agency, kind: 'mental_health' }, 'clinician');
    const res = await declare(u, p.id, 'Caller\u200b reports an overdose, needs the crisis plan');
    expect(res.status, res.text).toBe(201);
    const { rows } = await database.admin('SELECT reason FROM break_glass_grants WHERE id = $1', [res.body.id]);
    expect(rows).toEqual([{ reason: 'Caller reports an overdose, needs the crisis plan' }]);
  });
});
