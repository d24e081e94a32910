// Issue 18 item 1 (SPEC principle 14), through HTTP on both drivers: no operator, alone or through
// the accounts and clients it creates, can approve anything or reach a partner's data. Each
// attack of the issue is a test here, with the legitimate twin beside it.
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { clientCredentialsGrant, clientKeys, type ClientKeys } from '../helpers/clients.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logOf as accessLogOf } from '../helpers/assertions.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { openTestDatabase, type TestDatabase } from '../helpers/db.js';
import { bearer, createAgency, createEntry, createSubject, createUser, type TestUser } from '../helpers/factories.js';

let database: TestDatabase;
let t: TestApp;
let gateway: Awaited<ReturnType<typeof createAgency>>;
let harbor: Awaited<ReturnType<typeof createAgency>>;
let admin: TestUser;
let compliance: TestUser;
let secondCompliance: TestUser;
let harborClinician: TestUser;
let subject: Awaited<ReturnType<typeof createSubject>>;

const short = () => randomUUID().slice(0, 8);
const logOf = (res: { headers: Record<string, string> }) => accessLogOf(database, res);
const decide = (by: { token: string }, id: string, decision: 'approve' | 'reject') =>
  request(t.app).post(`/v1/audit/approvals/${id}/decision`).set(bearer(by)).send({ decision });
const approvalRow = async (id: string) => (await database.admin('select status, decided_by, effect from approvals where id = $1', [id])).rows[0]!;
const userRow = async (id: string) =>
  (await database.admin('select role, approval, approver_basis, disabled_at, enrolment_code_hash from users where id = $1', [id])).rows[0]!;

beforeAll(async () => {
  database = await openTestDatabase();
  t = await createTestApp(database.app);
  gateway = await createAgency(t.deps.db, 'gateway', `gateway-${short()}`);
  harbor = await createAgency(t.deps.db, 'mental_health', `harbor-mh-${short()}`);
  admin = await createUser(t.deps, gateway, 'admin', `admin-${short()}@gateway`);
  compliance = await createUser(t.deps, gateway, 'compliance_officer');
  secondCompliance = await createUser(t.deps, gateway, 'compliance_officer');
  harborClinician = await createUser(t.deps, harbor, 'clinician');
  subject = await createSubject(t.deps.db, harborClinician);
  await createEntry(t.deps.db, subject.id, harborClinician, 'intermediate');
});
afterAll(() => database?.close());

describe('one operator cannot become a partner clinician', () => {
  it('demoting a compliance officer waits for another one; the demoted officer keeps deciding until then', async () => {
    const target = await createUser(t.deps, gateway, 'compliance_officer');
    const asked = await request(t.app).post(`/v1/admin/users/${target.userId}/role`).set(bearer(admin)).send({ role: 'admin' });
    expect(asked.status, asked.text).toBe(202);
    expect(asked.body).toMatchObject({ role: 'compliance_officer', pendingRole: 'admin' });
    expect(await userRow(target.userId)).toMatchObject({ role: 'compliance_officer', approver_basis: 'pre-existing' });
    // The officer it is about cannot decide it; another one can (the legitimate twin).
    const own = await decide(target, asked.body.approvalId, 'approve');
    expect(own.status).toBe(403);
    expect((await logOf(own))[0]).toMatchObject({ action: 'audit.approval.decide', decision: 'deny', reason: 'approver-is-subject' });
    expect((await decide(compliance, asked.body.approvalId, 'approve')).status).toBe(200);
    // An admin now: no longer an approver, whatever happens to its role later.
    expect(await userRow(target.userId)).toMatchObject({ role: 'admin', approver_basis: null });
  });

  it('a new gateway compliance officer is never "the first": it waits, cannot enrol on the operator’s code alone, and cannot approve a mole', async () => {
    const x = await request(t.app)
      .post('/v1/admin/users')
      .set(bearer(admin))
      .send({ username: `x-${short()}@gateway`, agency: gateway.slug, role: 'compliance_officer' });
    expect(x.status, x.text).toBe(201);
    expect(x.body).toMatchObject({ approval: 'pending', approvalId: expect.any(String) });
    // The operator's code alone does not enrol it.
    const enrol = await request(t.app)
      .post('/oauth/enrol')
      .send({ username: x.body.username, enrolment_code: x.body.enrolmentCode, password: 'the operator chose this one' });
    expect(enrol.status).toBe(400);
    expect(enrol.body.error).toBe('invalid_grant');

    const mole = await request(t.app)
      .post('/v1/admin/users')
      .set(bearer(admin))
      .send({ username: `mole-${short()}@${harbor.slug}`, agency: harbor.slug, role: 'clinician' });
    expect(mole.status, mole.text).toBe(201);
    // Even a token for x (as if it had enrolled) is refused while x waits; the mole stays pending.
    const xToken = await t.deps.tokens.issue({
      userId: x.body.id,
      agency: gateway.slug,
      agencyKind: 'gateway',
      role: 'compliance_officer',
      amr: ['pwd', 'otp', 'mfa'],
    });
    const byX = await decide({ token: xToken }, mole.body.approvalId, 'approve');
    expect(byX.status).toBe(401);
    expect(byX.body).not.toHaveProperty('approvalCode');
    expect(await approvalRow(mole.body.approvalId)).toMatchObject({ status: 'pending', decided_by: null });
    expect(await userRow(mole.body.id)).toMatchObject({ approval: 'pending' });
    // And the mole cannot sign in at all, so Harbor's record stays closed to it.
    const login = await request(t.app)
      .post('/oauth/token')
      .type('form')
      .send({ grant_type: 'password', username: mole.body.username, password: 'anything at all' });
    expect(login.status).toBe(400);
  });

  it('an approver approved by a compliance officer decides; one that was never approved as an approver cannot', async () => {
    const invited = await request(t.app)
      .post('/v1/admin/users')
      .set(bearer(admin))
      .send({ username: `auditor-${short()}@gateway`, agency: gateway.slug, role: 'compliance_officer' });
    expect((await decide(compliance, invited.body.approvalId, 'approve')).status).toBe(200);
    expect(await userRow(invited.body.id)).toMatchObject({ approval: 'approved', approver_basis: 'approval' });
    const approved = {
      token: await t.deps.tokens.issue({ userId: invited.body.id, agency: gateway.slug, agencyKind: 'gateway', role: 'compliance_officer', amr: ['pwd'] }),
    };
    const mole = await request(t.app)
      .post('/v1/admin/users')
      .set(bearer(admin))
      .send({ username: `clin-${short()}@${harbor.slug}`, agency: harbor.slug, role: 'clinician' });
    expect((await decide(approved, mole.body.approvalId, 'reject')).status).toBe(200);

    // An auditing account put in place behind the approvals (a row without a basis) decides nothing.
    const [row] = (
      await database.admin(`insert into users (username, agency_id, role, password_hash) values ($1, $2, 'compliance_officer', '!') returning id`, [
        `planted-${short()}@gateway`,
        gateway.id,
      ])
    ).rows;
    const planted = {
      token: await t.deps.tokens.issue({ userId: row!.id as string, agency: gateway.slug, agencyKind: 'gateway', role: 'compliance_officer', amr: ['pwd'] }),
    };
    const another = await request(t.app)
      .post('/v1/admin/users')
      .set(bearer(admin))
      .send({ username: `clin-${short()}@${harbor.slug}`, agency: harbor.slug, role: 'clinician' });
    const refused = await decide(planted, another.body.approvalId, 'approve');
    expect(refused.status).toBe(403);
    expect(refused.body).not.toHaveProperty('approvalCode');
    expect((await logOf(refused))[0]).toMatchObject({ decision: 'deny', reason: 'approver-not-approved' });
    expect(await approvalRow(another.body.approvalId)).toMatchObject({ status: 'pending' });
  });

  it('an approver’s second-factor reset waits for another compliance officer, who hands over the code', async () => {
    const target = await createUser(t.deps, gateway, 'compliance_officer');
    const before = await userRow(target.userId);
    const asked = await request(t.app).post(`/v1/admin/users/${target.userId}/reset-mfa`).set(bearer(admin));
    expect(asked.status, asked.text).toBe(202);
    expect(asked.body).not.toHaveProperty('enrolmentCode');
    expect((await userRow(target.userId)).enrolment_code_hash).toBe(before.enrolment_code_hash);
    expect((await decide(target, asked.body.approvalId, 'approve')).status).toBe(403);
    const approved = await decide(secondCompliance, asked.body.approvalId, 'approve');
    expect(approved.status, approved.text).toBe(200);
    expect(approved.body.enrolmentCode).toMatch(/^[a-z2-7]{5}(-[a-z2-7]{5}){3}$/);
    expect((await userRow(target.userId)).enrolment_code_hash).not.toBe(before.enrolment_code_hash);
    // The code is not in the log entry of the decision.
    expect(JSON.stringify(await logOf(approved))).not.toContain(approved.body.enrolmentCode);
  });

  it('a partner’s reset and a disable take effect at once and wait for review', async () => {
    const clinician = await createUser(t.deps, harbor, 'clinician');
    const reset = await request(t.app).post(`/v1/admin/users/${clinician.userId}/reset-mfa`).set(bearer(admin));
    expect(reset.status).toBe(200);
    expect(reset.body).toMatchObject({ enrolmentCode: expect.any(String), approvalId: expect.any(String) });
    expect(await approvalRow(reset.body.approvalId)).toMatchObject({ status: 'pending', effect: 'at-once' });
    const disabled = await request(t.app).post(`/v1/admin/users/${clinician.userId}/disable`).set(bearer(admin));
    expect(disabled.status).toBe(200);
    expect(disabled.body.disabledAt).not.toBeNull();
    expect(await approvalRow(disabled.body.approvalId)).toMatchObject({ status: 'pending', effect: 'at-once' });
    // A review records agreement or not; it re-enables nothing.
    const reviewed = await decide(compliance, disabled.body.approvalId, 'reject');
    expect(reviewed.status).toBe(200);
    expect((await userRow(clinician.userId)).disabled_at).not.toBeNull();
    const queue = await request(t.app).get('/v1/audit/approvals?status=all').set(bearer(compliance));
    expect(queue.body.approvals.find((a: { id: string }) => a.id === disabled.body.approvalId)).toMatchObject({
      kind: 'user.disable',
      effect: 'at-once',
      status: 'rejected',
    });
  });

  it('the operators’ own accounts stay the operators’: a gateway admin is invited at once', async () => {
    const res = await request(t.app)
      .post('/v1/admin/users')
      .set(bearer(admin))
      .send({ username: `ops-${short()}@gateway`, agency: gateway.slug, role: 'admin' });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ approval: 'approved' });
    expect(res.body).not.toHaveProperty('approvalId');
  });
});

describe('a client the operator registers never approves', () => {
  const clientToken = (clientId: string, k: ClientKeys) => clientCredentialsGrant(t.app, clientId, k);

  it('a gateway client with an auditing role waits for approval, and even approved its token decides nothing', async () => {
    const k = await clientKeys();
    const clientId = `siem-${short()}`;
    const registered = await request(t.app)
      .post('/v1/admin/clients')
      .set(bearer(admin))
      .send({ clientId, agency: gateway.slug, role: 'compliance_officer', jwks: { keys: [k.publicJwk] } });
    expect(registered.status, registered.text).toBe(201);
    expect(registered.body).toMatchObject({ approval: 'pending', approvalId: expect.any(String) });
    expect((await clientToken(clientId, k)).status).toBe(401);

    // Approved by a compliance officer (a SIEM may read the log), it still cannot decide.
    expect((await decide(compliance, registered.body.approvalId, 'approve')).status).toBe(200);
    const token = await clientToken(clientId, k);
    expect(token.status, token.text).toBe(200);
    const mole = await request(t.app)
      .post('/v1/admin/users')
      .set(bearer(admin))
      .send({ username: `mole-${short()}@${harbor.slug}`, agency: harbor.slug, role: 'clinician' });
    const byClient = await decide({ token: token.body.access_token }, mole.body.approvalId, 'approve');
    expect(byClient.status).toBe(403);
    expect(byClient.body).not.toHaveProperty('approvalCode');
    expect((await logOf(byClient))[0]).toMatchObject({ action: 'audit.approval.decide', decision: 'deny', reason: 'approver-not-a-person' });
    expect(await approvalRow(mole.body.approvalId)).toMatchObject({ status: 'pending', decided_by: null });
    // The twin: a person who audits decides the same request.
    expect((await decide(compliance, mole.body.approvalId, 'reject')).status).toBe(200);
  });
});
