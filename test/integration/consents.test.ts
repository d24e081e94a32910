import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectNoMarkers, expectProblem, logOf as accessLogOf } from '../helpers/assertions.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { openTestDatabase, type TestDatabase } from '../helpers/db.js';
import { bearer, createAgency, createEntry, createSubject, createUser, type TestUser } from '../helpers/factories.js';

// Consents through HTTP: record, list, revoke, and what an active or revoked consent does to the
// tier a partner gets on its next read. Each allow has its deny twin.

let database: TestDatabase;
let t: TestApp;
let hospA: { id: string; slug: string; kind: string };
let clinician: TestUser; // mental health, records the consents
let hospClinician: TestUser;
let swA: TestUser; // social worker of hospital A
let swB: TestUser; // social worker of hospital B
let peer: TestUser;
let officer: TestUser;
let clerk: TestUser;
let dispatcher: TestUser;
let compliance: TestUser;
let contributor: TestUser; // a clinician of another mental-health agency, who wrote the entries

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const logOf = (res: { headers: Record<string, string> }) => accessLogOf(database, res);
async function consentCount(subjectId?: string): Promise<number> {
  const { rows } = subjectId
    ? await database.admin('SELECT count(*) AS n FROM consents WHERE subject_id = $1', [subjectId])
    : await database.admin('SELECT count(*) AS n FROM consents');
  return Number(rows[0]!.n);
}

/**
 * A subject (created by a third agency) with one entry of each kind that matters, contributed by
 * the clinician's agency: the consents below are that agency's release of its own entries.
 */
async function personWithEntries() {
  const s = await createSubject(t.deps.db, contributor);
  const [inter, sud, psy, full] = await Promise.all([
    createEntry(t.deps.db, s.id, clinician, 'intermediate', [], 'diagnosis'),
    createEntry(t.deps.db, s.id, clinician, 'intermediate', ['substance-use'], 'treatment'),
    createEntry(t.deps.db, s.id, clinician, 'intermediate', ['psychotherapy-notes'], 'note'),
    createEntry(t.deps.db, s.id, clinician, 'full', [], 'note'),
  ]);
  return { id: s.id, inter: inter.marker, sud: sud.marker, psy: psy.marker, full: full.marker };
}

const consentBody = (recipients: unknown[], extra: Record<string, unknown> = {}) => ({
  recipients,
  tiers: ['intermediate'],
  sensitiveCategories: [],
  purpose: 'care-coordination',
  validFrom: new Date(Date.now() - 60_000).toISOString(),
  validUntil: new Date(Date.now() + 86_400_000).toISOString(),
  evidence: { form: 'written', witness: 'Front desk' },
  ...extra,
});

async function record(subjectId: string, recipients: unknown[], extra: Record<string, unknown> = {}) {
  const res = await request(t.app).post(`/v1/subjects/${subjectId}/consents`).set(bearer(clinician)).send(consentBody(recipients, extra));
  expect(res.status, res.text).toBe(201);
  return res.body as { id: string; status: string };
}

const read = (u: TestUser, subjectId: string) => request(t.app).get(`/v1/subjects/${subjectId}`).set(bearer(u));

beforeAll(async () => {
  database = await openTestDatabase();
  t = await createTestApp(database.app);
  const db = t.deps.db;
  const [mh, mh2, hB, police, gw] = await Promise.all([
    createAgency(db, 'mental_health'),
    createAgency(db, 'mental_health'),
    createAgency(db, 'hospital'),
    createAgency(db, 'police'),
    createAgency(db, 'gateway'),
  ]);
  hospA = await createAgency(db, 'hospital');
  [clinician, hospClinician, swA, swB, peer, officer, clerk, dispatcher, compliance, contributor] = await Promise.all([
    createUser(t.deps, mh, 'clinician'),
    createUser(t.deps, hospA, 'clinician'),
    createUser(t.deps, hospA, 'social_worker'),
    createUser(t.deps, hB, 'social_worker'),
    createUser(t.deps, mh, 'peer_specialist'),
    createUser(t.deps, police, 'officer'),
    createUser(t.deps, police, 'records_staff'),
    createUser(t.deps, police, 'dispatcher'),
    createUser(t.deps, gw, 'compliance_officer'),
    createUser(t.deps, mh2, 'clinician'),
  ]);
});
afterAll(() => database?.close());

describe('POST /v1/subjects/:id/consents', () => {
  it('a clinician records a consent naming an agency by slug and a kind: 201 {id,status:"active",…}', async () => {
    const p = await personWithEntries();
    const body = consentBody([{ agency: hospA.slug }, { agencyKind: 'police' }], { sensitiveCategories: ['substance-use'] });
    const res = await request(t.app).post(`/v1/subjects/${p.id}/consents`).set(bearer(clinician)).send(body);
    expect(res.status, res.text).toBe(201);
    expect(res.body).toMatchObject({
      id: expect.stringMatching(UUID),
      subjectId: p.id,
      status: 'active',
      disclosers: [clinician.agency],
      recipients: body.recipients,
      tiers: ['intermediate'],
      sensitiveCategories: ['substance-use'],
      purpose: 'care-coordination',
      evidence: { form: 'written', witness: 'Front desk' },
      revokedAt: null,
    });
    expect(Date.parse(res.body.validFrom)).toBe(Date.parse(body.validFrom));
    expect(Date.parse(res.body.validUntil)).toBe(Date.parse(body.validUntil));
    expectNoMarkers(res, [p.inter, p.sud, p.psy, p.full]);
    const { rows } = await database.admin('SELECT recipient_agency_ids, recipient_kinds, agency_id, recorded_by FROM consents WHERE id = $1', [res.body.id]);
    expect(rows).toEqual([{ recipient_agency_ids: [hospA.id], recipient_kinds: ['police'], agency_id: clinician.agencyId, recorded_by: clinician.userId }]);
    expect(await logOf(res)).toEqual([
      expect.objectContaining({ action: 'consent.create', decision: 'allow', subject_id: p.id, detail: { consentId: res.body.id } }),
    ]);
  });

  it('a hospital clinician may record consent too; verbal consent with a witness is accepted', async () => {
    const p = await personWithEntries();
    const res = await request(t.app)
      .post(`/v1/subjects/${p.id}/consents`)
      .set(bearer(hospClinician))
      .send(consentBody([{ agencyKind: 'mental_health' }], { evidence: { form: 'verbal', witness: 'Charge nurse' }, validUntil: undefined }));
    expect(res.status, res.text).toBe(201);
    expect(res.body.status).toBe('active');
    expect(res.body.validUntil).toBeNull();
  });

  it.each([
    ['peer_specialist', () => peer],
    ['officer', () => officer],
    ['records_staff', () => clerk],
    ['social_worker', () => swA],
    ['compliance_officer', () => compliance],
  ])('a %s may not record consent: 403, no row, logged', async (_role, who) => {
    const p = await personWithEntries();
    const res = await request(t.app)
      .post(`/v1/subjects/${p.id}/consents`)
      .set(bearer(who()))
      .send(consentBody([{ agencyKind: 'police' }]));
    expectProblem(res, 403);
    expect(await consentCount(p.id)).toBe(0);
    expect(await logOf(res)).toEqual([expect.objectContaining({ action: 'consent.create', decision: 'deny', reason: 'no-rule:create:Consent' })]);
  });

  it('an unknown agency slug is 400 naming the field, and records no consent at all', async () => {
    const p = await personWithEntries();
    const before = await consentCount();
    const res = await request(t.app)
      .post(`/v1/subjects/${p.id}/consents`)
      .set(bearer(clinician))
      .send(consentBody([{ agency: hospA.slug }, { agency: 'no-such-agency' }]));
    expectProblem(res, 400);
    expect(res.body.errors).toEqual([{ path: 'recipients', message: 'unknown agency no-such-agency' }]);
    expect(await consentCount()).toBe(before);
    // …so the named agency that does exist got nothing either.
    expect((await read(swA, p.id)).body.access.tier).toBe('basic');
  });

  it('a disabled agency cannot be named', async () => {
    const p = await personWithEntries();
    const gone = await createAgency(t.deps.db, 'hospital');
    await database.admin('UPDATE agencies SET disabled_at = now() WHERE id = $1', [gone.id]);
    expectProblem(
      await request(t.app)
        .post(`/v1/subjects/${p.id}/consents`)
        .set(bearer(clinician))
        .send(consentBody([{ agency: gone.slug }])),
      400,
    );
    expect(await consentCount(p.id)).toBe(0);
  });

  it.each([
    ['no recipients', { recipients: [] }],
    ['the gateway as a recipient kind', { recipients: [{ agencyKind: 'gateway' }] }],
    ['a recipient with both forms', { recipients: [{ agency: 'x-y', agencyKind: 'police' }] }],
    ['the full tier', { tiers: ['full'] }],
    ['the basic tier', { tiers: ['basic'] }],
    ['an unknown category', { sensitiveCategories: ['genetics'] }],
    ['a free-text purpose', { purpose: 'Because I said so' }],
    ['verbal consent without a witness', { evidence: { form: 'verbal' } }],
    ['validUntil before validFrom', { validFrom: '2030-01-02T00:00:00Z', validUntil: '2030-01-01T00:00:00Z' }],
    ['a date without offset', { validFrom: '2030-01-02T00:00:00' }],
    // Years 0000-0099 come back from the drivers as 19xx: refused rather than shown wrongly.
    ['a validFrom in the year 0050', { validFrom: '0050-01-01T00:00:00Z' }],
    ['a validUntil in the year 0099', { validFrom: undefined, validUntil: '0099-12-31T00:00:00Z' }],
    ['a validFrom in the year 0000', { validFrom: '0000-01-01T00:00:00Z' }],
    ['an unknown field', { signature: 'x' }],
  ])('bad input (%s) is 400 and records nothing', async (_what, patch) => {
    const p = await personWithEntries();
    const res = await request(t.app)
      .post(`/v1/subjects/${p.id}/consents`)
      .set(bearer(clinician))
      .send(consentBody([{ agencyKind: 'police' }], patch));
    expectProblem(res, 400);
    expect(await consentCount(p.id)).toBe(0);
  });

  it('an unknown subject is 404 and records nothing', async () => {
    const before = await consentCount();
    expectProblem(
      await request(t.app)
        .post('/v1/subjects/00000000-0000-4000-8000-000000000000/consents')
        .set(bearer(clinician))
        .send(consentBody([{ agencyKind: 'police' }])),
      404,
    );
    expect(await consentCount()).toBe(before);
  });
});

describe('GET /v1/subjects/:id/consents', () => {
  it('a clinician lists the consents its agency recorded or is named in, with their status, no clinical content', async () => {
    const p = await personWithEntries();
    const a = await record(p.id, [{ agencyKind: 'police' }]);
    const b = await record(p.id, [{ agency: hospA.slug }], {
      validFrom: new Date(Date.now() + 86_400_000).toISOString(),
      validUntil: new Date(Date.now() + 2 * 86_400_000).toISOString(),
    });
    const mine = await request(t.app).get(`/v1/subjects/${p.id}/consents`).set(bearer(clinician));
    expect(mine.status, mine.text).toBe(200);
    expect(mine.body.consents.map((c: { id: string; status: string }) => [c.id, c.status])).toEqual([
      [a.id, 'active'],
      [b.id, 'pending'],
    ]);
    // A recipient sees the consent that names it, not the one for the police.
    const res = await request(t.app).get(`/v1/subjects/${p.id}/consents`).set(bearer(hospClinician));
    expect(res.status, res.text).toBe(200);
    expect(res.body.consents.map((c: { id: string; status: string; disclosers: string[] }) => [c.id, c.status, c.disclosers])).toEqual([
      [b.id, 'pending', [clinician.agency]],
    ]);
    expect(res.text).not.toContain(a.id);
    expectNoMarkers(res, [p.inter, p.sud, p.psy, p.full]);
    expect(await logOf(res)).toEqual([expect.objectContaining({ action: 'consent.read', decision: 'allow', subject_id: p.id, detail: { consents: [b.id] } })]);
  });

  it.each([
    ['peer_specialist', () => peer],
    ['officer', () => officer],
    ['social_worker', () => swA],
    ['compliance_officer', () => compliance],
  ])('a %s may not list consents: 403, logged', async (_role, who) => {
    const p = await personWithEntries();
    const c = await record(p.id, [{ agencyKind: 'police' }]);
    const res = await request(t.app).get(`/v1/subjects/${p.id}/consents`).set(bearer(who()));
    expectProblem(res, 403);
    expect(res.text).not.toContain(c.id);
    expect(await logOf(res)).toEqual([expect.objectContaining({ action: 'consent.read', decision: 'deny' })]);
  });

  it('an unknown subject is 404', async () => {
    expectProblem(await request(t.app).get('/v1/subjects/00000000-0000-4000-8000-000000000000/consents').set(bearer(clinician)), 404);
  });
});

describe('what a consent grants', () => {
  it('a consent naming the hospital kind gives a hospital social worker intermediate, with consent basis; without it, basic', async () => {
    const p = await personWithEntries();
    const before = await read(swA, p.id);
    expect(before.status).toBe(200);
    expect(before.body.access).toEqual({ tier: 'basic', basis: [{ tier: 'basic', rule: 'partner-read' }], withheld: ['intermediate', 'full'] });
    expectNoMarkers(before, [p.inter, p.sud, p.psy, p.full]);

    const c = await record(p.id, [{ agencyKind: 'hospital' }]);
    for (const sw of [swA, swB]) {
      const res = await read(sw, p.id);
      expect(res.status).toBe(200);
      expect(res.body.access.tier).toBe('intermediate');
      expect(res.body.access.withheld).toEqual(['full']);
      expect(res.body.access.basis).toContainEqual({ tier: 'intermediate', rule: 'consent', consentId: c.id });
      expect(res.text).toContain(p.inter);
      expectNoMarkers(res, [p.sud, p.psy, p.full]);
      const log = await logOf(res);
      expect(log).toEqual([expect.objectContaining({ action: 'subject.read', decision: 'allow', tier: 'intermediate', subject_id: p.id })]);
      expect(log[0]!.basis).toContainEqual({ tier: 'intermediate', rule: 'consent', consentId: c.id });
    }
    // The twin: a kind the consent does not name stays at basic.
    const police = await read(officer, p.id);
    expect(police.body.access.tier).toBe('basic');
    expectNoMarkers(police, [p.inter, p.sud, p.psy, p.full]);
  });

  it('a consent naming one agency by slug covers that agency only, not others of its kind', async () => {
    const p = await personWithEntries();
    await record(p.id, [{ agency: hospA.slug }]);
    const named = await read(swA, p.id);
    expect(named.body.access.tier).toBe('intermediate');
    expect(named.text).toContain(p.inter);
    const other = await read(swB, p.id);
    expect(other.body.access.tier).toBe('basic');
    expectNoMarkers(other, [p.inter, p.sud, p.psy, p.full]);
  });

  it('a sensitive category is released only when the consent names it, and only that one', async () => {
    const p = await personWithEntries();
    await record(p.id, [{ agencyKind: 'police' }], { sensitiveCategories: ['substance-use'] });
    const res = await read(clerk, p.id);
    expect(res.body.access.tier).toBe('intermediate');
    expect(res.text).toContain(p.inter);
    expect(res.text).toContain(p.sud);
    expectNoMarkers(res, [p.psy, p.full]);
  });

  it('a consent cannot lift a role above its ceiling: a dispatcher stays at basic', async () => {
    const p = await personWithEntries();
    await record(p.id, [{ agencyKind: 'police' }], { sensitiveCategories: ['substance-use'] });
    const res = await read(dispatcher, p.id);
    expect(res.body.access.tier).toBe('basic');
    expectNoMarkers(res, [p.inter, p.sud, p.psy, p.full]);
  });

  it('a consent not yet valid, or already expired, grants nothing', async () => {
    const p = await personWithEntries();
    await record(p.id, [{ agencyKind: 'police' }], {
      validFrom: new Date(Date.now() + 3_600_000).toISOString(),
      validUntil: new Date(Date.now() + 7_200_000).toISOString(),
    });
    const expired = await record(p.id, [{ agencyKind: 'police' }]);
    // Time passes (as the superuser, past the trigger that keeps consents unchanged but for revocation).
    await database.admin(
      `BEGIN; SET LOCAL session_replication_role = replica; UPDATE consents SET valid_from = now() - interval '2 days', valid_until = now() - interval '1 day' WHERE id = '${expired.id}'; COMMIT;`,
    );
    const res = await read(officer, p.id);
    expect(res.body.access.tier).toBe('basic');
    expectNoMarkers(res, [p.inter, p.sud, p.psy, p.full]);
    const list = await request(t.app).get(`/v1/subjects/${p.id}/consents`).set(bearer(clinician));
    expect(list.body.consents.map((c: { status: string }) => c.status)).toEqual(['pending', 'expired']);
  });
});

describe('POST /v1/consents/:id/revoke', () => {
  it('revokes (200, status revoked); the next read falls back to basic; a second revoke is 409', async () => {
    const p = await personWithEntries();
    const c = await record(p.id, [{ agencyKind: 'hospital' }], { sensitiveCategories: ['substance-use'] });
    const granted = await read(swA, p.id);
    expect(granted.body.access.tier).toBe('intermediate');
    expect(granted.text).toContain(p.sud);

    // A recipient cannot revoke: only the discloser's clinicians withdraw its release.
    const recipient = await request(t.app).post(`/v1/consents/${c.id}/revoke`).set(bearer(hospClinician)).send({ reason: 'Withdrawn by the patient' });
    expectProblem(recipient, 403);
    expect(await logOf(recipient)).toEqual([expect.objectContaining({ action: 'consent.revoke', decision: 'deny', reason: 'no-rule:revoke:Consent' })]);

    const res = await request(t.app).post(`/v1/consents/${c.id}/revoke`).set(bearer(clinician)).send({ reason: 'Withdrawn by the patient' });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ id: c.id, status: 'revoked', revocationReason: 'Withdrawn by the patient' });
    expect(res.body.revokedAt).toBeTruthy();
    expectNoMarkers(res, [p.inter, p.sud, p.psy, p.full]);
    expect(await logOf(res)).toEqual([expect.objectContaining({ action: 'consent.revoke', decision: 'allow', subject_id: p.id, detail: { consentId: c.id } })]);
    const { rows } = await database.admin('SELECT revoked_by FROM consents WHERE id = $1', [c.id]);
    expect(rows[0]!.revoked_by).toBe(clinician.userId);

    const after = await read(swA, p.id);
    expect(after.body.access).toEqual({ tier: 'basic', basis: [{ tier: 'basic', rule: 'partner-read' }], withheld: ['intermediate', 'full'] });
    expectNoMarkers(after, [p.inter, p.sud, p.psy, p.full]);

    const again = await request(t.app).post(`/v1/consents/${c.id}/revoke`).set(bearer(clinician)).send({ reason: 'again' });
    expectProblem(again, 409);
    const { rows: still } = await database.admin('SELECT revoked_by, revocation_reason FROM consents WHERE id = $1', [c.id]);
    expect(still[0]).toEqual({ revoked_by: clinician.userId, revocation_reason: 'Withdrawn by the patient' });

    const list = await request(t.app).get(`/v1/subjects/${p.id}/consents`).set(bearer(clinician));
    expect(list.body.consents).toEqual([expect.objectContaining({ id: c.id, status: 'revoked' })]);
  });

  it.each([
    ['peer_specialist', () => peer],
    ['officer', () => officer],
    ['social_worker', () => swA],
    ['compliance_officer', () => compliance],
  ])('a %s may not revoke: 403, logged, the consent stays active', async (_role, who) => {
    const p = await personWithEntries();
    const c = await record(p.id, [{ agencyKind: 'hospital' }]);
    const res = await request(t.app).post(`/v1/consents/${c.id}/revoke`).set(bearer(who())).send({ reason: 'not mine to revoke' });
    expectProblem(res, 403);
    expect(await logOf(res)).toEqual([expect.objectContaining({ action: 'consent.revoke', decision: 'deny' })]);
    const { rows } = await database.admin('SELECT revoked_at FROM consents WHERE id = $1', [c.id]);
    expect(rows[0]!.revoked_at).toBeNull();
    expect((await read(swA, p.id)).body.access.tier).toBe('intermediate');
  });

  it('needs a reason (400); an unknown consent is 404', async () => {
    const p = await personWithEntries();
    const c = await record(p.id, [{ agencyKind: 'hospital' }]);
    for (const bad of [{}, { reason: '' }, { reason: 'ok', extra: 1 }]) {
      expectProblem(await request(t.app).post(`/v1/consents/${c.id}/revoke`).set(bearer(clinician)).send(bad), 400);
    }
    const { rows } = await database.admin('SELECT revoked_at FROM consents WHERE id = $1', [c.id]);
    expect(rows[0]!.revoked_at).toBeNull();
    expectProblem(await request(t.app).post('/v1/consents/00000000-0000-4000-8000-000000000000/revoke').set(bearer(clinician)).send({ reason: 'x' }), 404);
    expectProblem(await request(t.app).post('/v1/consents/nope/revoke').set(bearer(clinician)).send({ reason: 'x' }), 400);
  });
});
