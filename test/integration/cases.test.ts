import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectNoMarkers, expectProblem, logOf as accessLogOf } from '../helpers/assertions.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { openTestDatabase, type TestDatabase } from '../helpers/db.js';
import { bearer, createAgency, createEntry, createSubject, createUser, type TestUser } from '../helpers/factories.js';

// Cases through HTTP: the full tier belongs to current members of an open case, and only members
// manage the team. An agency's entries come into a case only when it takes part (opened it, or
// joined it from that agency), and then reach the members on the team when it joined and those
// its own users add. Each allow has its deny twin; every refusal is logged.

let database: TestDatabase;
let t: TestApp;
let creator: TestUser; // mental-health clinician who opens the cases
let outsider: TestUser; // a clinician of the same agency who is not on the team
let doctor: TestUser; // hospital clinician
let socialWorker: TestUser;
let officer: TestUser;
let clerk: TestUser;
let peer: TestUser;
let compliance: TestUser;
let admin: TestUser;
let contributor: TestUser; // another agency wrote the entries, so nobody above sees them as its own
let hospColleague: TestUser; // a second hospital clinician

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const logOf = (res: { headers: Record<string, string> }) => accessLogOf(database, res);
async function activeMembers(caseId: string): Promise<string[]> {
  const { rows } = await database.admin('SELECT user_id FROM case_members WHERE case_id = $1 AND removed_at IS NULL ORDER BY user_id', [caseId]);
  return rows.map((r) => r.user_id as string);
}

async function person() {
  const s = await createSubject(t.deps.db, contributor);
  const [inter, full, sud] = await Promise.all([
    createEntry(t.deps.db, s.id, contributor, 'intermediate', [], 'diagnosis'),
    createEntry(t.deps.db, s.id, contributor, 'full', [], 'note'),
    createEntry(t.deps.db, s.id, contributor, 'full', ['substance-use'], 'treatment'),
  ]);
  return { id: s.id, inter: inter.marker, full: full.marker, sud: sud.marker, all: [inter.marker, full.marker, sud.marker] };
}

/**
 * The creator opens a case and adds the entries' contributor, whose agency then joins: its
 * entries reach the two of them, and the members the contributor adds later.
 */
async function openCase(subjectId: string, by = creator) {
  const res = await request(t.app).post('/v1/cases').set(bearer(by)).send({ subjectId, title: 'Co-responder follow-up' });
  expect(res.status, res.text).toBe(201);
  await addMember(by, res.body.id, contributor.username).expect(201);
  await request(t.app).post(`/v1/cases/${res.body.id}/participants`).set(bearer(contributor)).expect(201);
  return res.body as { id: string; status: string; members: { userId: string }[] };
}

const read = (u: TestUser, subjectId: string) => request(t.app).get(`/v1/subjects/${subjectId}`).set(bearer(u));
const addMember = (by: TestUser, caseId: string, user: string) => request(t.app).post(`/v1/cases/${caseId}/members`).set(bearer(by)).send({ user });
const removeMember = (by: TestUser, caseId: string, userId: string) => request(t.app).delete(`/v1/cases/${caseId}/members/${userId}`).set(bearer(by));
const close = (by: TestUser, caseId: string) => request(t.app).post(`/v1/cases/${caseId}/close`).set(bearer(by));

/** Full tier on a case basis: the full entry, never the unreleased substance-use one. */
function expectFull(res: request.Response, p: Awaited<ReturnType<typeof person>>, caseId: string) {
  expect(res.status, res.text).toBe(200);
  expect(res.body.access.tier).toBe('full');
  expect(res.body.access.withheld).toEqual([]);
  expect(res.body.access.basis).toContainEqual({ tier: 'full', rule: 'open-case-member', caseId });
  expect(res.text).toContain(p.inter);
  expect(res.text).toContain(p.full);
  expectNoMarkers(res, [p.sud]);
}
function expectBasic(res: request.Response, p: Awaited<ReturnType<typeof person>>) {
  expect(res.status, res.text).toBe(200);
  expect(res.body.access.tier).toBe('basic');
  expect(res.body.access.withheld).toEqual(['intermediate', 'full']);
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
  [creator, outsider, doctor, socialWorker, officer, clerk, peer, compliance, admin, contributor, hospColleague] = await Promise.all([
    createUser(t.deps, mh, 'clinician'),
    createUser(t.deps, mh, 'clinician'),
    createUser(t.deps, hosp, 'clinician'),
    createUser(t.deps, hosp, 'social_worker'),
    createUser(t.deps, police, 'officer'),
    createUser(t.deps, police, 'records_staff'),
    createUser(t.deps, mh, 'peer_specialist'),
    createUser(t.deps, gw, 'compliance_officer'),
    createUser(t.deps, gw, 'admin'),
    createUser(t.deps, mh2, 'clinician'),
    createUser(t.deps, hosp, 'clinician'),
  ]);
});
afterAll(() => database?.close());

describe('POST /v1/cases', () => {
  it('a clinician opens a case: 201 {id,status:"open",…}, the creator is a member and gets the full tier', async () => {
    const p = await person();
    expectBasic(await read(creator, p.id), p);
    const res = await request(t.app).post('/v1/cases').set(bearer(creator)).send({ subjectId: p.id, title: 'Follow-up' });
    expect(res.status, res.text).toBe(201);
    expect(res.body).toMatchObject({ id: expect.stringMatching(UUID), subjectId: p.id, title: 'Follow-up', status: 'open' });
    expect(res.body.members).toEqual([
      expect.objectContaining({ userId: creator.userId, username: creator.username, agency: creator.agency, role: 'clinician' }),
    ]);
    expectNoMarkers(res, p.all);
    expect(await activeMembers(res.body.id)).toEqual([creator.userId]);
    expect(await logOf(res)).toEqual([
      expect.objectContaining({ action: 'case.create', decision: 'allow', subject_id: p.id, detail: { caseId: res.body.id } }),
    ]);
    expect(res.body.participants).toEqual([{ agency: creator.agency, joinedAt: expect.any(String) }]);
    // Opening a case brings in the opener's agency's records only: the contributor's stay out.
    const alone = await read(creator, p.id);
    expect(alone.body.access.basis).toContainEqual({ tier: 'full', rule: 'open-case-member', caseId: res.body.id });
    expectNoMarkers(alone, p.all);
    // Once the contributor is on the team and joins from its agency, its entries come in.
    await addMember(creator, res.body.id, contributor.username).expect(201);
    const joined = await request(t.app).post(`/v1/cases/${res.body.id}/participants`).set(bearer(contributor));
    expect(joined.status, joined.text).toBe(201);
    expect(joined.body.participants.map((x: { agency: string }) => x.agency)).toEqual([creator.agency, contributor.agency]);
    expect(await logOf(joined)).toEqual([expect.objectContaining({ action: 'case.join', decision: 'allow', subject_id: p.id })]);
    expectProblem(await request(t.app).post(`/v1/cases/${res.body.id}/participants`).set(bearer(contributor)), 409);
    expectFull(await read(creator, p.id), p, res.body.id);
    // Twin: a clinician of the same agency who is not on the team stays at basic.
    expectBasic(await read(outsider, p.id), p);
    // Only a member joins, and only a role that manages cases.
    const stranger = await request(t.app).post(`/v1/cases/${res.body.id}/participants`).set(bearer(doctor));
    expectProblem(stranger, 403);
    expect(await logOf(stranger)).toEqual([expect.objectContaining({ action: 'case.join', decision: 'deny', reason: 'no-rule:update:Case' })]);
    expectProblem(await request(t.app).post(`/v1/cases/${res.body.id}/participants`).set(bearer(officer)), 403);
  });

  it.each([
    ['social_worker', () => socialWorker],
    ['officer', () => officer],
    ['peer_specialist', () => peer],
    ['records_staff', () => clerk],
    ['compliance_officer', () => compliance],
  ])('a %s may not open a case: 403, no row, logged', async (_role, who) => {
    const p = await person();
    const res = await request(t.app).post('/v1/cases').set(bearer(who())).send({ subjectId: p.id, title: 'x' });
    expectProblem(res, 403);
    const { rows } = await database.admin('SELECT count(*) AS n FROM cases WHERE subject_id = $1', [p.id]);
    expect(Number(rows[0]!.n)).toBe(0);
    expect(await logOf(res)).toEqual([expect.objectContaining({ action: 'case.create', decision: 'deny', reason: 'no-rule:create:Case' })]);
  });

  it('an unknown subject is 404 and bad input 400; neither opens a case', async () => {
    const { rows: before } = await database.admin('SELECT count(*) AS n FROM cases');
    expectProblem(await request(t.app).post('/v1/cases').set(bearer(creator)).send({ subjectId: '00000000-0000-4000-8000-000000000000', title: 'x' }), 404);
    expectProblem(await request(t.app).post('/v1/cases').set(bearer(creator)).send({ subjectId: 'nope', title: 'x' }), 400);
    expectProblem(await request(t.app).post('/v1/cases').set(bearer(creator)).send({ title: 'x' }), 400);
    const p = await person();
    expectProblem(await request(t.app).post('/v1/cases').set(bearer(creator)).send({ subjectId: p.id, title: 'x', status: 'closed' }), 400);
    const { rows: after } = await database.admin('SELECT count(*) AS n FROM cases');
    expect(after[0]!.n).toEqual(before[0]!.n);
  });
});

describe('POST /v1/cases/:id/members', () => {
  it('a member adds a user by username: 201, and that user gets the full tier on the next request', async () => {
    const p = await person();
    const c = await openCase(p.id);
    expectBasic(await read(doctor, p.id), p);
    const res = await addMember(contributor, c.id, doctor.username);
    expect(res.status, res.text).toBe(201);
    expect(res.body.members.map((m: { userId: string }) => m.userId).sort()).toEqual([creator.userId, contributor.userId, doctor.userId].sort());
    expectNoMarkers(res, p.all);
    expect(await logOf(res)).toEqual([
      expect.objectContaining({ action: 'case.member.add', decision: 'allow', subject_id: p.id, detail: { caseId: c.id, memberUserId: doctor.userId } }),
    ]);
    expectFull(await read(doctor, p.id), p, c.id);
  });

  it("a member another agency adds after the contributor joined does not receive the contributor's entries", async () => {
    const p = await person();
    const c = await openCase(p.id);
    await addMember(creator, c.id, doctor.username).expect(201);
    const res = await read(doctor, p.id);
    expect(res.status, res.text).toBe(200);
    expectNoMarkers(res, p.all);
  });

  it('a member adds a user by id; a new member may add others in turn', async () => {
    const p = await person();
    const c = await openCase(p.id);
    const res = await addMember(contributor, c.id, socialWorker.userId);
    expect(res.status, res.text).toBe(201);
    expectFull(await read(socialWorker, p.id), p, c.id);
    const byDoctor = await addMember(contributor, c.id, doctor.userId);
    expect(byDoctor.status).toBe(201);
    expect((await addMember(doctor, c.id, officer.username)).status).toBe(201);
    expect(await activeMembers(c.id)).toEqual([creator.userId, contributor.userId, socialWorker.userId, doctor.userId, officer.userId].sort());
    // The officer the doctor added sees nothing the contributor did not release to it.
    expectNoMarkers(await read(officer, p.id), p.all);
  });

  it('the case cannot lift a role above its ceiling: a records clerk on the team gets intermediate, not full', async () => {
    const p = await person();
    const c = await openCase(p.id);
    expect((await addMember(contributor, c.id, clerk.username)).status).toBe(201);
    const res = await read(clerk, p.id);
    expect(res.body.access.tier).toBe('intermediate');
    expect(res.body.access.basis).toContainEqual({ tier: 'intermediate', rule: 'open-case-member', caseId: c.id });
    expect(res.text).toContain(p.inter);
    expectNoMarkers(res, [p.full, p.sud]);
  });

  it('a clinician who is not a member cannot add members: 403, logged as a deny, team unchanged', async () => {
    const p = await person();
    const c = await openCase(p.id);
    const res = await addMember(outsider, c.id, outsider.username);
    expectProblem(res, 403);
    expect(await logOf(res)).toEqual([
      expect.objectContaining({ action: 'case.member.add', decision: 'deny', reason: 'no-rule:update:Case', subject_id: p.id, actor_user_id: outsider.userId }),
    ]);
    expect(await activeMembers(c.id)).toEqual([creator.userId, contributor.userId].sort());
    expectBasic(await read(outsider, p.id), p);
  });

  it('a team member whose role cannot manage cases cannot add members (403)', async () => {
    const p = await person();
    const c = await openCase(p.id);
    await addMember(creator, c.id, socialWorker.username).expect(201);
    const res = await addMember(socialWorker, c.id, officer.username);
    expectProblem(res, 403);
    expect(await logOf(res)).toEqual([expect.objectContaining({ action: 'case.member.add', decision: 'deny', reason: 'no-rule:update:Case' })]);
    expect(await activeMembers(c.id)).not.toContain(officer.userId);
  });

  it.each([
    ['compliance officer', () => compliance],
    ['gateway admin', () => admin],
  ])('a %s, who reads no person data, cannot join a team: 409, no row', async (_who, who) => {
    const p = await person();
    const c = await openCase(p.id);
    const res = await addMember(creator, c.id, who().username);
    expectProblem(res, 409);
    expect(await activeMembers(c.id)).toEqual([creator.userId, contributor.userId].sort());
  });

  it('an existing member is 409; an unknown or disabled user is 404; a malformed body 400', async () => {
    const p = await person();
    const c = await openCase(p.id);
    expectProblem(await addMember(creator, c.id, creator.username), 409);
    expectProblem(await addMember(creator, c.id, 'nobody@nowhere'), 404);
    expectProblem(await addMember(creator, c.id, '00000000-0000-4000-8000-000000000000'), 404);
    const gone = await createUser(t.deps, { id: doctor.agencyId, slug: doctor.agency, kind: 'hospital' }, 'clinician');
    await database.admin('UPDATE users SET disabled_at = now() WHERE id = $1', [gone.userId]);
    expectProblem(await addMember(creator, c.id, gone.username), 404);
    expectProblem(await request(t.app).post(`/v1/cases/${c.id}/members`).set(bearer(creator)).send({}), 400);
    expectProblem(await request(t.app).post(`/v1/cases/${c.id}/members`).set(bearer(creator)).send({ user: doctor.username, role: 'x' }), 400);
    expect(await activeMembers(c.id)).toEqual([creator.userId, contributor.userId].sort());
  });

  it('an unknown case is 404', async () => {
    expectProblem(await addMember(creator, '00000000-0000-4000-8000-000000000000', doctor.username), 404);
  });
});

describe('DELETE /v1/cases/:id/members/:userId', () => {
  it('a member removes another of its own agency: that user loses the full tier on the very next request', async () => {
    const p = await person();
    const c = await openCase(p.id);
    await addMember(contributor, c.id, doctor.username).expect(201);
    await addMember(contributor, c.id, hospColleague.username).expect(201);
    expectFull(await read(doctor, p.id), p, c.id);

    const res = await removeMember(hospColleague, c.id, doctor.userId);
    expect(res.status, res.text).toBe(200);
    expect(res.body.members.map((m: { userId: string }) => m.userId).sort()).toEqual([creator.userId, contributor.userId, hospColleague.userId].sort());
    expect(await logOf(res)).toEqual([
      expect.objectContaining({ action: 'case.member.remove', decision: 'allow', detail: { caseId: c.id, memberUserId: doctor.userId } }),
    ]);
    expectBasic(await read(doctor, p.id), p);
    // The removed doctor can no longer manage the team either.
    expectProblem(await addMember(doctor, c.id, doctor.username), 403);
    // The membership history stays.
    const { rows } = await database.admin('SELECT removed_by FROM case_members WHERE case_id = $1 AND user_id = $2', [c.id, doctor.userId]);
    expect(rows).toEqual([{ removed_by: hospColleague.userId }]);
    // And the user can be added again.
    expect((await addMember(contributor, c.id, doctor.userId)).status).toBe(201);
    expectFull(await read(doctor, p.id), p, c.id);
    // A member may always leave.
    expect((await removeMember(doctor, c.id, doctor.userId)).status).toBe(200);
    expectBasic(await read(doctor, p.id), p);
  });

  it("a member cannot remove another agency's member: 403, logged, the member keeps the full tier", async () => {
    const p = await person();
    const c = await openCase(p.id);
    await addMember(contributor, c.id, doctor.username).expect(201);
    for (const who of [creator, outsider]) {
      const res = await removeMember(who, c.id, doctor.userId);
      expectProblem(res, 403);
      expect(await logOf(res)).toEqual([
        expect.objectContaining({ action: 'case.member.remove', decision: 'deny', reason: 'no-rule:remove:CaseMember', subject_id: p.id }),
      ]);
    }
    expectFull(await read(doctor, p.id), p, c.id);
  });

  it('removing someone who is not a member is 404; a malformed user id 400', async () => {
    const p = await person();
    const c = await openCase(p.id);
    expectProblem(await removeMember(creator, c.id, outsider.userId), 404);
    expectProblem(await request(t.app).delete(`/v1/cases/${c.id}/members/not-a-uuid`).set(bearer(creator)), 400);
  });
});

describe('POST /v1/cases/:id/close', () => {
  it("only the owning agency closes: a non-member or another agency's member is refused (403, logged); the opener closes, and every member loses the full tier", async () => {
    const p = await person();
    const c = await openCase(p.id);
    await addMember(contributor, c.id, doctor.username).expect(201);

    const refused = await close(outsider, c.id);
    expectProblem(refused, 403);
    expect(await logOf(refused)).toEqual([
      expect.objectContaining({ action: 'case.close', decision: 'deny', reason: 'no-rule:update:Case', subject_id: p.id, actor_user_id: outsider.userId }),
    ]);
    for (const member of [doctor, contributor]) {
      const notOwner = await close(member, c.id);
      expectProblem(notOwner, 403);
      expect(await logOf(notOwner)).toEqual([expect.objectContaining({ action: 'case.close', decision: 'deny', reason: 'no-rule:close:Case' })]);
    }
    const { rows: still } = await database.admin('SELECT status FROM cases WHERE id = $1', [c.id]);
    expect(still[0]!.status).toBe('open');
    expectFull(await read(doctor, p.id), p, c.id);

    const res = await close(creator, c.id);
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ id: c.id, status: 'closed' });
    expect(res.body.closedAt).toBeTruthy();
    expect(await logOf(res)).toEqual([expect.objectContaining({ action: 'case.close', decision: 'allow', subject_id: p.id })]);
    const { rows } = await database.admin('SELECT status, closed_by FROM cases WHERE id = $1', [c.id]);
    expect(rows[0]).toEqual({ status: 'closed', closed_by: creator.userId });

    for (const member of [creator, doctor]) expectBasic(await read(member, p.id), p);
  });

  it('closing again is 409; a closed case takes no new members (409)', async () => {
    const p = await person();
    const c = await openCase(p.id);
    await close(creator, c.id).expect(200);
    expectProblem(await close(creator, c.id), 409);
    expectProblem(await addMember(creator, c.id, doctor.username), 409);
    expectProblem(await removeMember(creator, c.id, creator.userId), 409);
    expect(await activeMembers(c.id)).toEqual([creator.userId, contributor.userId].sort());
    expectBasic(await read(doctor, p.id), p);
  });

  it('a non-member does not learn that a case is closed: 404', async () => {
    const p = await person();
    const c = await openCase(p.id);
    await close(creator, c.id).expect(200);
    expectProblem(await close(outsider, c.id), 404);
  });

  it('a role without manage-case is refused by the route guard: 403; an unknown case is 404', async () => {
    const p = await person();
    const c = await openCase(p.id);
    const res = await close(officer, c.id);
    expectProblem(res, 403);
    expect(await logOf(res)).toEqual([expect.objectContaining({ action: 'case.close', decision: 'deny', reason: 'no-rule:close:Case' })]);
    expectProblem(await close(creator, '00000000-0000-4000-8000-000000000000'), 404);
  });

  it('a new case reopens the full tier for its own team only', async () => {
    const p = await person();
    const first = await openCase(p.id);
    await addMember(contributor, first.id, doctor.username).expect(201);
    await close(creator, first.id).expect(200);
    const second = await openCase(p.id);
    expectFull(await read(creator, p.id), p, second.id);
    expectBasic(await read(doctor, p.id), p);
  });
});
