// Issue 18's first attack, step by step on a deployment of its own (the bootstrap is per
// deployment): one operator demotes the only compliance officer, invites itself a "first"
// auditor, approves a mole into Harbor and reads Harbor's record. None of it may work; the
// bootstrap auditor is made once and never again.
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { openTestDatabase, type TestDatabase } from '../helpers/db.js';
import { bearer, createAgency, createEntry, createSubject, createUser, type TestUser } from '../helpers/factories.js';

let database: TestDatabase;
let t: TestApp;
let gateway: Awaited<ReturnType<typeof createAgency>>;
let harbor: Awaited<ReturnType<typeof createAgency>>;
let admin: TestUser;
let harborClinician: TestUser;
const short = () => randomUUID().slice(0, 8);

beforeAll(async () => {
  database = await openTestDatabase();
  t = await createTestApp(database.app);
  gateway = await createAgency(t.deps.db, 'gateway', 'gateway');
  harbor = await createAgency(t.deps.db, 'mental_health', 'harbor-mh');
  admin = await createUser(t.deps, gateway, 'admin', 'admin@gateway');
  harborClinician = await createUser(t.deps, harbor, 'clinician');
  const ada = await createSubject(t.deps.db, harborClinician, { givenName: 'Ada', familyName: 'Lovelace' });
  await createEntry(t.deps.db, ada.id, harborClinician, 'intermediate');
});
afterAll(() => database?.close());

const invite = (username: string, agency: string, role: string) => request(t.app).post('/v1/admin/users').set(bearer(admin)).send({ username, agency, role });
const step = async () => (await database.admin("select step, user_id from bootstrap_steps where step = 'first-auditor'")).rows;

describe('the bootstrap auditor, once per deployment', () => {
  it('the first auditing account ever takes effect at once, and is recorded as the bootstrap', async () => {
    expect(await step()).toEqual([]);
    const first = await invite('compliance@gateway', gateway.slug, 'compliance_officer');
    expect(first.status, first.text).toBe(201);
    expect(first.body).toMatchObject({ approval: 'approved' });
    expect(first.body).not.toHaveProperty('approvalId');
    expect(await step()).toEqual([{ step: 'first-auditor', user_id: first.body.id }]);
    const basis = await database.admin('select approver_basis from users where id = $1', [first.body.id]);
    expect(basis.rows[0]).toEqual({ approver_basis: 'bootstrap' });
  });

  it('demoting the only compliance officer waits for approval, so no "first" auditor can follow', async () => {
    const [compliance] = (await database.admin("select id from users where username = 'compliance@gateway'")).rows;
    const demote = await request(t.app).post(`/v1/admin/users/${compliance!.id}/role`).set(bearer(admin)).send({ role: 'admin' });
    expect(demote.status, demote.text).toBe(202);
    const x = await invite(`x-${short()}@gateway`, gateway.slug, 'compliance_officer');
    expect(x.status).toBe(201);
    expect(x.body).toMatchObject({ approval: 'pending', approvalId: expect.any(String) });
  });

  it('disabling every compliance officer never re-opens the bootstrap', async () => {
    const [compliance] = (await database.admin("select id from users where username = 'compliance@gateway'")).rows;
    const disabled = await request(t.app).post(`/v1/admin/users/${compliance!.id}/disable`).set(bearer(admin));
    expect(disabled.status, disabled.text).toBe(200);
    expect(disabled.body.approvalId).toEqual(expect.any(String));
    const y = await invite(`y-${short()}@gateway`, gateway.slug, 'compliance_officer');
    expect(y.body).toMatchObject({ approval: 'pending' });
    // The step cannot be removed, not even by the gateway's database role.
    await expect(t.deps.db.execute(sql`delete from bootstrap_steps`)).rejects.toThrow();
    await expect(database.admin('delete from bootstrap_steps')).rejects.toThrow();
    expect(await step()).toHaveLength(1);
  });

  it('so the mole never gets in: its invitation waits for an approver nobody has, and Harbor’s record stays closed', async () => {
    const mole = await invite('mole@harbor-mh', harbor.slug, 'clinician');
    expect(mole.body).toMatchObject({ approval: 'pending' });
    const login = await request(t.app)
      .post('/oauth/token')
      .type('form')
      .send({ grant_type: 'password', username: 'mole@harbor-mh', password: 'whatever it is' });
    expect(login.status).toBe(400);
    const entries = await database.admin("select count(*)::int as n from access_log where action = 'subject.read' and decision = 'allow'");
    expect(entries.rows[0]).toEqual({ n: 0 });
  });
});
