// Issue 9 item 4 (SPEC principle 10), through HTTP: gateway operators administer but cannot
// become a partner user. Their invitations into partner agencies, partner role changes, partner
// client registrations and clients' on-behalf-of lists take effect only once a compliance
// officer approves them (four eyes, two roles), and no MFA reset lets them choose a password.
import { randomUUID } from 'node:crypto';
import { parse } from 'yaml';
import { readFileSync } from 'node:fs';
import { sql } from 'drizzle-orm';
import request from 'supertest';
import { clientCredentialsGrant, clientKeys, type ClientKeys } from '../helpers/clients.js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { totpCode } from '../../src/auth/totp.js';
import { DEFAULT_POLICY_FILE, parsePolicy } from '../../src/authz/policy.js';
import { logOf as accessLogOf } from '../helpers/assertions.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { openTestDatabase, type TestDatabase } from '../helpers/db.js';
import { bearer, createAgency, createEntry, createSubject, createUser, TEST_PASSWORD, type TestUser } from '../helpers/factories.js';

let database: TestDatabase;
let t: TestApp;
let gateway: Awaited<ReturnType<typeof createAgency>>;
let harbor: Awaited<ReturnType<typeof createAgency>>;
let police: Awaited<ReturnType<typeof createAgency>>;
let admin: TestUser;
let compliance: TestUser;
let harborClinician: TestUser;
let subject: Awaited<ReturnType<typeof createSubject>>;

const short = () => randomUUID().slice(0, 8);
const OPERATOR_PASSWORD = 'the operator chose this one';
const PERSON_PASSWORD = 'the person chose this one';

beforeAll(async () => {
  database = await openTestDatabase();
  t = await createTestApp(database.app);
  gateway = await createAgency(t.deps.db, 'gateway', `gateway-${short()}`);
  harbor = await createAgency(t.deps.db, 'mental_health', `harbor-mh-${short()}`);
  police = await createAgency(t.deps.db, 'police');
  admin = await createUser(t.deps, gateway, 'admin', `admin-${short()}@gateway`);
  compliance = await createUser(t.deps, gateway, 'compliance_officer');
  harborClinician = await createUser(t.deps, harbor, 'clinician');
  subject = await createSubject(t.deps.db, harborClinician);
  await createEntry(t.deps.db, subject.id, harborClinician, 'full', ['psychotherapy-notes']);
});
afterAll(() => database?.close());
beforeEach(() => database.admin('delete from login_throttle'));

const logOf = (res: { headers: Record<string, string> }) => accessLogOf(database, res);
const enrol = (fields: Record<string, string>) => request(t.app).post('/oauth/enrol').send(fields);
const confirm = (fields: Record<string, string>) => request(t.app).post('/oauth/enrol/confirm').send(fields);
const login = (username: string, password: string, otp?: string) =>
  request(t.app)
    .post('/oauth/token')
    .type('form')
    .send({ grant_type: 'password', username, password, ...(otp ? { otp } : {}) });
const decide = (by: TestUser, id: string, decision: 'approve' | 'reject', noteText?: string) =>
  request(t.app)
    .post(`/v1/audit/approvals/${id}/decision`)
    .set(bearer(by))
    .send({ decision, ...(noteText ? { note: noteText } : {}) });
const passwordHash = async (userId: string) => (await database.admin('select password_hash from users where id = $1', [userId])).rows[0]!.password_hash;

async function inviteHarborClinician() {
  const username = `clin-${short()}@harbor-mh`;
  const res = await request(t.app).post('/v1/admin/users').set(bearer(admin)).send({ username, agency: harbor.slug, role: 'clinician' });
  expect(res.status, res.text).toBe(201);
  return res;
}

describe('an operator cannot become a partner user', () => {
  it('admin@gateway invites a Harbor "clinician" and cannot read psychotherapy notes as that user: pending until compliance approves, and even approved the operator never sets the password', async () => {
    const invited = await inviteHarborClinician();
    const { id: userId, username, enrolmentCode, approvalId } = invited.body as { id: string; username: string; enrolmentCode: string; approvalId: string };
    expect(invited.body).toMatchObject({ approval: 'pending', approvalId: expect.any(String) });
    expect((await logOf(invited))[0]).toMatchObject({
      action: 'admin.user.invite',
      decision: 'allow',
      detail: expect.objectContaining({ userId, approvalId }),
    });

    // Pending: the operator's code does not enrol, and nothing signs in.
    const early = await enrol({ username, enrolment_code: enrolmentCode, password: OPERATOR_PASSWORD });
    expect(early.status).toBe(400);
    expect(early.body.error).toBe('invalid_grant');
    expect((await logOf(early))[0]).toMatchObject({ action: 'mfa.enrol', decision: 'deny', reason: 'approval-pending' });
    expect((await login(username, OPERATOR_PASSWORD)).status).toBe(400);

    // The compliance officer sees the request and approves it; the approval's half goes to the person.
    const queue = await request(t.app).get('/v1/audit/approvals').set(bearer(compliance));
    expect(queue.status).toBe(200);
    expect(queue.body.approvals).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          id: approvalId,
          kind: 'user.invite',
          status: 'pending',
          agency: harbor.slug,
          user: { user: username, userId },
          change: { role: 'clinician' },
          requestedBy: { user: admin.username, userId: admin.userId },
        }),
      ]),
    );
    const approved = await decide(compliance, approvalId, 'approve', 'checked with Harbor MH HR');
    expect(approved.status, approved.text).toBe(200);
    expect(approved.body).toMatchObject({ status: 'approved', decidedBy: { userId: compliance.userId }, approvalCode: expect.any(String) });
    const decisionLog = await logOf(approved);
    expect(decisionLog).toEqual([
      expect.objectContaining({
        action: 'audit.approval.decide',
        decision: 'allow',
        actor_user_id: compliance.userId,
        detail: expect.objectContaining({ approvalId, decision: 'approve', kind: 'user.invite', userId }),
      }),
    ]);
    expect(JSON.stringify(decisionLog)).not.toContain(approved.body.approvalCode);
    expect(JSON.stringify(decisionLog)).not.toContain('checked with Harbor');

    // Approved: the operator's code alone, or with a guessed half, still does not enrol.
    for (const extra of [{}, { approval_code: 'aaaaa-aaaaa-aaaaa-aaaaa' }] as Record<string, string>[]) {
      const attempt = await enrol({ username, enrolment_code: enrolmentCode, password: OPERATOR_PASSWORD, ...extra });
      expect(attempt.status).toBe(400);
      expect((await logOf(attempt))[0]).toMatchObject({ action: 'mfa.enrol', decision: 'deny', reason: 'approval-code-invalid' });
    }
    expect(await passwordHash(userId)).toBe('!');

    // The legitimate twin: the person, with both halves, sets their own password and signs in.
    const start = await enrol({ username, enrolment_code: enrolmentCode, approval_code: approved.body.approvalCode, password: PERSON_PASSWORD });
    expect(start.status, start.text).toBe(200);
    const secret = start.body.totp_secret as string;
    expect((await confirm({ username, enrolment_code: enrolmentCode, otp: totpCode(secret) })).status).toBe(200);
    const session = await login(username, PERSON_PASSWORD, totpCode(secret, Date.now() + 30_000));
    expect(session.status, session.text).toBe(200);
    const read = await request(t.app)
      .get(`/v1/subjects/${subject.id}`)
      .set(bearer({ token: session.body.access_token }));
    // (What a Harbor clinician then sees of another's psychotherapy note is the policy's rule, not tested here.)
    expect(read.status).toBe(200);
    expect((await login(username, OPERATOR_PASSWORD, totpCode(secret, Date.now() + 60_000))).status).toBe(400);
  });

  it('reset-mfa does not let the operator set the password: re-enrolment proves the current one', async () => {
    const person = await createUser(t.deps, harbor, 'clinician');
    const before = await passwordHash(person.userId);
    const reset = await request(t.app).post(`/v1/admin/users/${person.userId}/reset-mfa`).set(bearer(admin));
    expect(reset.status, reset.text).toBe(200);
    const code = reset.body.enrolmentCode as string;

    // The operator holds the code and tries a password of its own choosing.
    const hijack = await enrol({ username: person.username, enrolment_code: code, password: OPERATOR_PASSWORD });
    expect(hijack.status).toBe(400);
    expect(hijack.body).toEqual({ error: 'invalid_grant', error_description: expect.any(String) });
    expect(hijack.text).not.toContain('totp');
    expect((await logOf(hijack))[0]).toMatchObject({ action: 'mfa.enrol', decision: 'deny', reason: 'password-invalid' });
    expect(await passwordHash(person.userId)).toBe(before);
    expect((await login(person.username, OPERATOR_PASSWORD)).status).toBe(400);

    // The twin: the person re-enrols with the code and their own current password, which stays.
    const start = await enrol({ username: person.username, enrolment_code: code, password: TEST_PASSWORD });
    expect(start.status, start.text).toBe(200);
    expect(await passwordHash(person.userId)).toBe(before);
    const secret = start.body.totp_secret as string;
    expect((await confirm({ username: person.username, enrolment_code: code, otp: totpCode(secret) })).status).toBe(200);
    expect((await login(person.username, TEST_PASSWORD, totpCode(secret, Date.now() + 30_000))).status).toBe(200);
  });

  it('a rejected invitation never enrols, and a decided request cannot be decided again', async () => {
    const invited = await inviteHarborClinician();
    const rejected = await decide(compliance, invited.body.approvalId, 'reject', 'nobody at Harbor asked for this');
    expect(rejected.status, rejected.text).toBe(200);
    expect(rejected.body).toMatchObject({ status: 'rejected' });
    expect(rejected.body.approvalCode).toBeUndefined();
    expect((await decide(compliance, invited.body.approvalId, 'approve')).status).toBe(409);
    const { rows } = await database.admin('select approval, disabled_at, enrolment_code_hash from users where id = $1', [invited.body.id]);
    expect(rows[0]).toMatchObject({ approval: 'rejected', disabled_at: expect.any(Date), enrolment_code_hash: null });
    expect((await enrol({ username: invited.body.username, enrolment_code: invited.body.enrolmentCode, password: OPERATOR_PASSWORD })).status).toBe(400);
    // Nor can it be turned around in the database, through the gateway's connection or as the superuser.
    const id = invited.body.approvalId as string;
    for (const run of [(q: string) => t.deps.db.execute(sql.raw(q)), (q: string) => database.admin(q)]) {
      for (const q of [
        `UPDATE approvals SET status = 'approved' WHERE id = '${id}'`,
        `UPDATE approvals SET note = 'x' WHERE id = '${id}'`,
        `DELETE FROM approvals WHERE id = '${id}'`,
      ]) {
        const failure = await run(q).then(
          () => 'no error',
          (e: { message: string; cause?: { message?: string } }) => e.cause?.message ?? e.message,
        );
        expect(failure, q).toMatch(/decided, once|append-only|permission denied/);
      }
    }
    expect((await database.admin('select status from approvals where id = $1', [id])).rows).toEqual([{ status: 'rejected' }]);
  });

  it("a gateway-agency invitation takes effect at once: the operators' own accounts are outside the approval rule", async () => {
    const res = await request(t.app)
      .post('/v1/admin/users')
      .set(bearer(admin))
      .send({ username: `ops-${short()}@gateway`, agency: gateway.slug, role: 'admin' });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ approval: 'approved' });
    expect(res.body.approvalId).toBeUndefined();
  });
});

describe('four eyes, two roles', () => {
  it('an operator cannot make itself an approver: a compliance officer invited into the gateway waits for an existing one and needs its half', async () => {
    const username = `co-${short()}@gateway`;
    const invited = await request(t.app).post('/v1/admin/users').set(bearer(admin)).send({ username, agency: gateway.slug, role: 'compliance_officer' });
    expect(invited.status, invited.text).toBe(201);
    expect(invited.body).toMatchObject({ approval: 'pending', approvalId: expect.any(String) });
    // The operator enrols it with its own code: refused before approval and after it.
    const code = invited.body.enrolmentCode as string;
    expect((await enrol({ username, enrolment_code: code, password: OPERATOR_PASSWORD })).status).toBe(400);
    const approved = await decide(compliance, invited.body.approvalId, 'approve');
    expect(approved.status).toBe(200);
    expect((await enrol({ username, enrolment_code: code, password: OPERATOR_PASSWORD })).status).toBe(400);
    // Promoting another operator to compliance officer waits the same way.
    const otherAdmin = await createUser(t.deps, gateway, 'admin');
    const promoted = await request(t.app).post(`/v1/admin/users/${otherAdmin.userId}/role`).set(bearer(admin)).send({ role: 'compliance_officer' });
    expect(promoted.status, promoted.text).toBe(202);
    expect(promoted.body).toMatchObject({ role: 'admin', pendingRole: 'compliance_officer' });
  });

  it('the operator cannot see or decide approvals, and the compliance officer cannot administer', async () => {
    const invited = await inviteHarborClinician();
    const list = await request(t.app).get('/v1/audit/approvals').set(bearer(admin));
    expect(list.status).toBe(403);
    const self = await decide(admin, invited.body.approvalId, 'approve');
    expect(self.status).toBe(403);
    expect((await logOf(self))[0]).toMatchObject({ action: 'audit.approval.decide', decision: 'deny', actor_user_id: admin.userId });
    const administer = await request(t.app)
      .post('/v1/admin/users')
      .set(bearer(compliance))
      .send({ username: `x-${short()}@harbor-mh`, agency: harbor.slug, role: 'clinician' });
    expect(administer.status).toBe(403);
    const { rows } = await database.admin('select status from approvals where id = $1', [invited.body.approvalId]);
    expect(rows).toEqual([{ status: 'pending' }]);
  });

  it('a role that both administers and audits cannot approve, not even what someone else asked for', async () => {
    const raw = parse(readFileSync(DEFAULT_POLICY_FILE, 'utf8'));
    raw.roles.gateway.superop = { permissions: ['audit', 'admin'], ceiling: 'none' };
    const both = await createTestApp(database.app, { policy: parsePolicy(raw) });
    const superop = await createUser(both.deps, gateway, 'superop');
    const invited = await inviteHarborClinician();
    const res = await request(both.app).post(`/v1/audit/approvals/${invited.body.approvalId}/decision`).set(bearer(superop)).send({ decision: 'approve' });
    expect(res.status).toBe(403);
    expect((await logOf(res))[0]).toMatchObject({ action: 'audit.approval.decide', decision: 'deny', reason: 'approver-administers' });
    // The twin: a compliance officer approves it.
    expect((await decide(compliance, invited.body.approvalId, 'approve')).status).toBe(200);
  });
});

describe('partner clients and their on-behalf-of lists', () => {
  const grant = (clientId: string, k: ClientKeys, extra: Record<string, string> = {}) => clientCredentialsGrant(t.app, clientId, k, extra);

  it('a client gets no token until approved, and acts for a user only once its list is approved', async () => {
    const k = await clientKeys();
    const clientId = `cad-${short()}`;
    const registered = await request(t.app)
      .post('/v1/admin/clients')
      .set(bearer(admin))
      .send({ clientId, agency: police.slug, role: 'dispatcher', jwks: { keys: [k.publicJwk] } });
    expect(registered.status, registered.text).toBe(201);
    const pending = await grant(clientId, k);
    expect(pending.status).toBe(401);
    expect((await logOf(pending))[0]).toMatchObject({ action: 'token.issue', decision: 'deny', reason: 'client-not-approved' });
    expect((await decide(compliance, registered.body.approvalId, 'approve')).status).toBe(200);
    expect((await grant(clientId, k)).status).toBe(200);

    const officer = await createUser(t.deps, police, 'officer');
    const listed = await request(t.app)
      .put(`/v1/admin/clients/${clientId}/users`)
      .set(bearer(admin))
      .send({ users: [officer.username] });
    expect(listed.status, listed.text).toBe(202);
    expect(listed.body).toMatchObject({ allowedUserIds: [], pendingAllowedUserIds: [officer.userId] });
    const before = await grant(clientId, k, { on_behalf_of: officer.username });
    expect(before.status).toBe(400);
    expect(before.body.error).toBe('invalid_grant');
    expect((await decide(compliance, listed.body.approvalId, 'approve')).status).toBe(200);
    const after = await grant(clientId, k, { on_behalf_of: officer.username });
    expect(after.status, after.text).toBe(200);

    // Only people of the client's own agency can be listed.
    const foreign = await request(t.app)
      .put(`/v1/admin/clients/${clientId}/users`)
      .set(bearer(admin))
      .send({ users: [harborClinician.username] });
    expect(foreign.status).toBe(400);
  });
});
