import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPolicy, parsePolicy, type DisclosurePolicy } from '../../src/authz/policy.js';
import { expectProblem, logOf as accessLogOf } from '../helpers/assertions.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { runScript } from '../helpers/cli.js';
import { openTestDatabase, type TestDatabase } from '../helpers/db.js';
import { bearer, createAgency, createCase, createConsent, createEntry, createSubject, createUser, type TestUser } from '../helpers/factories.js';

// GET /v1/audit/subjects/:id/disclosures: a person's accounting of disclosures (45 CFR 164.528).
// The history below is made through the API, one request at a time; the accounting must list
// exactly the disclosures (reads and search hits by other agencies) and none of the exempt
// accesses (own-agency reads, denials, compliance reads, writes), as JSON, CSV and FHIR R4.

let database: TestDatabase;
let t: TestApp;
let contributor: TestUser; // mental-health clinician who created the person and the entries
let peer: TestUser; // same agency
let doctor: TestUser; // hospital named by the consent
let erDoctor: TestUser; // another hospital, no consent: break-glass
let socialWorker: TestUser; // contributes a risk flag from the hospital
let officer: TestUser; // member of the open case
let clerk: TestUser;
let dispatcher: TestUser;
let formula: TestUser; // a police user whose name a spreadsheet would run as a formula
let compliance: TestUser;
let admin: TestUser;
let mh: { id: string; slug: string; kind: string };
let hospital: { id: string; slug: string; kind: string };
let police: { id: string; slug: string; kind: string };
let s: { id: string; familyName: string; birthDate: string };
let twin: { id: string }; // same name and date of birth: one search discloses both
let consentId: string;
let markers: string[];
const REASON = 'Patient unresponsive in ED, need crisis plan and diagnoses now';
/** Access-log entry id of each named request (one entry per request). */
const ev: Record<string, string> = {};

interface DisclosureJson {
  at: string;
  recipient: { user: string; userId: string; agency: string; agencyKind: string; role: string; client: string | null };
  tier: string;
  kinds: string[];
  purpose: string;
  basis: { tier?: string; rule: string; consentId?: string; caseId?: string; breakGlassId?: string }[];
  breakGlass: boolean;
  action: string;
  disclosedBy: string[];
  eventId: string;
}

const logOf = (res: { headers: Record<string, string> }) => accessLogOf(database, res);
function expectNoMarkers(res: request.Response) {
  const text = res.text + JSON.stringify(res.body ?? null);
  for (const m of [...markers, REASON]) expect(text).not.toContain(m);
}
const accounting = (subjectId: string, query: Record<string, string> = {}, who: TestUser = compliance, app = t.app) =>
  request(app).get(`/v1/audit/subjects/${subjectId}/disclosures`).query(query).set(bearer(who));
async function disclosuresOf(subjectId: string, query: Record<string, string> = {}, app = t.app): Promise<DisclosureJson[]> {
  const res = await accounting(subjectId, query, compliance, app);
  expect(res.status, res.text).toBe(200);
  return res.body.disclosures;
}

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

// ---- A structural checker for FHIR R4 AuditEvent (required elements, cardinalities, types) ----
const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
const ACT_REASON = 'http://terminology.hl7.org/CodeSystem/v3-ActReason';
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
const ID = /^[A-Za-z0-9\-.]{1,64}$/;
type J = Record<string, unknown>;
const isObj = (v: unknown): v is J => typeof v === 'object' && v !== null && !Array.isArray(v);
const ELEMENTS = {
  AuditEvent: [
    'resourceType',
    'id',
    'meta',
    'implicitRules',
    'language',
    'text',
    'contained',
    'extension',
    'modifierExtension',
    'type',
    'subtype',
    'action',
    'period',
    'recorded',
    'outcome',
    'outcomeDesc',
    'purposeOfEvent',
    'agent',
    'source',
    'entity',
  ],
  agent: [
    'id',
    'extension',
    'modifierExtension',
    'type',
    'role',
    'who',
    'altId',
    'name',
    'requestor',
    'location',
    'policy',
    'media',
    'network',
    'purposeOfUse',
  ],
  source: ['id', 'extension', 'modifierExtension', 'site', 'observer', 'type'],
  entity: ['id', 'extension', 'modifierExtension', 'what', 'type', 'role', 'lifecycle', 'securityLabel', 'name', 'description', 'query', 'detail'],
  detail: ['id', 'extension', 'modifierExtension', 'type', 'valueString', 'valueBase64Binary'],
  Coding: ['id', 'extension', 'system', 'version', 'code', 'display', 'userSelected'],
  CodeableConcept: ['id', 'extension', 'coding', 'text'],
  Reference: ['id', 'extension', 'reference', 'type', 'identifier', 'display'],
  Identifier: ['id', 'extension', 'use', 'type', 'system', 'value', 'period', 'assigner'],
  Bundle: ['resourceType', 'id', 'meta', 'implicitRules', 'language', 'identifier', 'type', 'timestamp', 'total', 'link', 'entry', 'signature'],
  entry: ['id', 'extension', 'modifierExtension', 'link', 'fullUrl', 'resource', 'search', 'request', 'response'],
} as const;

function checkR4AuditEvent(r: unknown): string[] {
  const errors: string[] = [];
  const fail = (path: string, msg: string) => errors.push(`${path}: ${msg}`);
  const known = (v: J, kind: keyof typeof ELEMENTS, path: string) => {
    for (const k of Object.keys(v)) if (!(ELEMENTS[kind] as readonly string[]).includes(k)) fail(path, `unknown element ${k}`);
  };
  const coding = (v: unknown, path: string) => {
    if (!isObj(v)) return fail(path, 'must be a Coding');
    known(v, 'Coding', path);
    if (typeof v.system !== 'string' || !/^[a-z]+:/.test(v.system)) fail(path, 'Coding.system must be a uri');
    if (typeof v.code !== 'string' || !v.code) fail(path, 'Coding.code must be a code');
  };
  const concept = (v: unknown, path: string) => {
    if (!isObj(v)) return fail(path, 'must be a CodeableConcept');
    known(v, 'CodeableConcept', path);
    if (v.coding !== undefined) (Array.isArray(v.coding) ? v.coding : [null]).forEach((c, i) => coding(c, `${path}.coding[${i}]`));
    if (v.coding === undefined && typeof v.text !== 'string') fail(path, 'needs coding or text');
  };
  const reference = (v: unknown, path: string) => {
    if (!isObj(v)) return fail(path, 'must be a Reference');
    known(v, 'Reference', path);
    if (v.reference === undefined && v.identifier === undefined && v.display === undefined) fail(path, 'Reference needs reference, identifier or display');
    if (v.identifier !== undefined) {
      if (!isObj(v.identifier)) return fail(`${path}.identifier`, 'must be an Identifier');
      known(v.identifier, 'Identifier', `${path}.identifier`);
      if (typeof v.identifier.value !== 'string' || !v.identifier.value) fail(`${path}.identifier.value`, 'required string');
      if (typeof v.identifier.system !== 'string') fail(`${path}.identifier.system`, 'expected a uri');
    }
  };
  if (!isObj(r)) return ['resource: not an object'];
  known(r, 'AuditEvent', 'AuditEvent');
  if (r.resourceType !== 'AuditEvent') fail('resourceType', 'must be AuditEvent');
  if (typeof r.id !== 'string' || !ID.test(r.id)) fail('id', 'must be a FHIR id');
  coding(r.type, 'type'); // 1..1 Coding
  if (r.subtype !== undefined) (Array.isArray(r.subtype) ? r.subtype : [null]).forEach((c, i) => coding(c, `subtype[${i}]`));
  if (r.action !== undefined && !['C', 'R', 'U', 'D', 'E'].includes(r.action as string)) fail('action', 'must be C|R|U|D|E');
  if (typeof r.recorded !== 'string' || !INSTANT.test(r.recorded)) fail('recorded', 'required instant');
  if (r.outcome !== undefined && !['0', '4', '8', '12'].includes(r.outcome as string)) fail('outcome', 'must be 0|4|8|12');
  if (r.purposeOfEvent !== undefined) (r.purposeOfEvent as unknown[]).forEach((c, i) => concept(c, `purposeOfEvent[${i}]`));
  if (!Array.isArray(r.agent) || r.agent.length < 1) fail('agent', 'required, 1..*');
  else
    r.agent.forEach((a: unknown, i) => {
      const p = `agent[${i}]`;
      if (!isObj(a)) return fail(p, 'must be an object');
      known(a, 'agent', p);
      if (typeof a.requestor !== 'boolean') fail(`${p}.requestor`, 'required boolean');
      if (a.type !== undefined) concept(a.type, `${p}.type`);
      if (a.role !== undefined) (a.role as unknown[]).forEach((c, j) => concept(c, `${p}.role[${j}]`));
      if (a.who !== undefined) reference(a.who, `${p}.who`);
      if (a.purposeOfUse !== undefined) (a.purposeOfUse as unknown[]).forEach((c, j) => concept(c, `${p}.purposeOfUse[${j}]`));
    });
  if (!isObj(r.source)) fail('source', 'required');
  else {
    known(r.source, 'source', 'source');
    reference(r.source.observer, 'source.observer'); // 1..1
    if (r.source.type !== undefined) (r.source.type as unknown[]).forEach((c, i) => coding(c, `source.type[${i}]`));
  }
  if (!Array.isArray(r.entity) || r.entity.length < 1) fail('entity', 'expected the patient entity');
  else
    r.entity.forEach((e: unknown, i) => {
      const p = `entity[${i}]`;
      if (!isObj(e)) return fail(p, 'must be an object');
      known(e, 'entity', p);
      if (e.what !== undefined) reference(e.what, `${p}.what`);
      if (e.type !== undefined) coding(e.type, `${p}.type`);
      if (e.role !== undefined) coding(e.role, `${p}.role`);
      if (e.name !== undefined && e.query !== undefined) fail(p, 'sev-1: name or query, not both');
      for (const [j, d] of ((e.detail as unknown[]) ?? []).entries()) {
        if (!isObj(d)) fail(`${p}.detail[${j}]`, 'must be an object');
        else {
          known(d, 'detail', `${p}.detail[${j}]`);
          if (typeof d.type !== 'string') fail(`${p}.detail[${j}].type`, 'required string');
          if (typeof d.valueString !== 'string' && typeof d.valueBase64Binary !== 'string') fail(`${p}.detail[${j}].value[x]`, 'required');
        }
      }
    });
  return errors;
}

function checkR4Bundle(b: unknown): string[] {
  if (!isObj(b)) return ['bundle: not an object'];
  const errors: string[] = [];
  for (const k of Object.keys(b)) if (!(ELEMENTS.Bundle as readonly string[]).includes(k)) errors.push(`Bundle: unknown element ${k}`);
  if (b.resourceType !== 'Bundle') errors.push('Bundle.resourceType');
  if (
    !['document', 'message', 'transaction', 'transaction-response', 'batch', 'batch-response', 'history', 'searchset', 'collection'].includes(b.type as string)
  )
    errors.push('Bundle.type');
  if (b.total !== undefined && b.type !== 'searchset' && b.type !== 'history') errors.push('bdl-1: total only in a search or history');
  if (b.timestamp !== undefined && !INSTANT.test(b.timestamp as string)) errors.push('Bundle.timestamp must be an instant');
  for (const [i, e] of ((b.entry as unknown[]) ?? []).entries()) {
    if (!isObj(e)) {
      errors.push(`entry[${i}]: not an object`);
      continue;
    }
    for (const k of Object.keys(e)) if (!(ELEMENTS.entry as readonly string[]).includes(k)) errors.push(`entry[${i}]: unknown element ${k}`);
    if (!isObj(e.resource)) errors.push(`entry[${i}].resource: required`);
    if (e.fullUrl !== undefined && !/^(urn:uuid:[0-9a-f-]{36}|https?:\/\/)/.test(e.fullUrl as string)) errors.push(`entry[${i}].fullUrl`);
    errors.push(...checkR4AuditEvent(e.resource).map((m) => `entry[${i}].${m}`));
  }
  return errors;
}

beforeAll(async () => {
  database = await openTestDatabase();
  t = await createTestApp(database.app);
  const db = t.deps.db;
  let hospital2: { id: string; slug: string; kind: string };
  let gw: { id: string; slug: string; kind: string };
  [mh, hospital, hospital2, police, gw] = await Promise.all([
    createAgency(db, 'mental_health'),
    createAgency(db, 'hospital'),
    createAgency(db, 'hospital'),
    createAgency(db, 'police'),
    createAgency(db, 'gateway'),
  ]);
  [contributor, peer, doctor, erDoctor, socialWorker, officer, clerk, dispatcher, compliance, admin] = await Promise.all([
    createUser(t.deps, mh, 'clinician'),
    createUser(t.deps, mh, 'peer_specialist'),
    createUser(t.deps, hospital, 'clinician'),
    createUser(t.deps, hospital2, 'clinician'),
    createUser(t.deps, hospital, 'social_worker'),
    createUser(t.deps, police, 'officer'),
    createUser(t.deps, police, 'records_staff'),
    createUser(t.deps, police, 'dispatcher'),
    createUser(t.deps, gw, 'compliance_officer'),
    createUser(t.deps, gw, 'admin'),
  ]);
  formula = await createUser(t.deps, police, 'records_staff', `=HYPERLINK("http://evil.example","x")@${police.slug}`);

  s = await createSubject(db, contributor, { givenName: 'Ada', familyName: 'Accounted', birthDate: '1985-02-03' });
  twin = await createSubject(db, contributor, { givenName: 'Ada', familyName: 'Accounted', birthDate: '1985-02-03' });
  markers = [
    (await createEntry(db, s.id, contributor, 'intermediate', [], 'diagnosis')).marker,
    (await createEntry(db, s.id, contributor, 'full', [], 'note')).marker,
  ];
  consentId = (await createConsent(db, s.id, contributor, { agencyIds: [hospital.id] })).id;
  await createCase(db, s.id, contributor, [officer]);

  const go = async (name: string, r: request.Test, status: number) => {
    const res = await r;
    expect(res.status, `${name}: ${res.text}`).toBe(status);
    const log = await logOf(res);
    expect(log, name).toHaveLength(1);
    ev[name] = log[0]!.id as string;
  };
  const read = (u: TestUser, id = s.id) => request(t.app).get(`/v1/subjects/${id}`).set(bearer(u));
  await go(
    'flagByContributor',
    request(t.app).post(`/v1/subjects/${s.id}/risk-flags`).set(bearer(contributor)).send({ code: 'weapon-access', severity: 'high' }),
    201,
  );
  await go('contributorReads', read(contributor), 200); // exempt: all of it is mh's own
  await go('peerReads', read(peer), 200); // exempt: same agency
  await go('clerkReads', read(clerk), 200);
  await go('dispatcherSearches', request(t.app).get('/v1/subjects').query({ name: 'Accounted', dob: '1985-02-03' }).set(bearer(dispatcher)), 200);
  await go('dispatcherSearchesOther', request(t.app).get('/v1/subjects').query({ name: 'Nobody', dob: '1985-02-03' }).set(bearer(dispatcher)), 200);
  await go('clerkReadsFlags', request(t.app).get(`/v1/subjects/${s.id}/risk-flags`).set(bearer(clerk)), 200);
  await go('doctorReads', read(doctor), 200); // consent
  await go('officerReads', read(officer), 200); // open case
  await go('erDeclares', request(t.app).post(`/v1/subjects/${s.id}/break-glass`).set(bearer(erDoctor)).send({ reason: REASON }), 201);
  await go('erReads', read(erDoctor), 200); // break-glass
  await go('adminReads', read(admin), 403);
  await go(
    'dispatcherWrites',
    request(t.app).post(`/v1/subjects/${s.id}/entries`).set(bearer(dispatcher)).send({ kind: 'note', tier: 'full', summary: 'x' }),
    403,
  );
  await go('complianceSearches', request(t.app).get('/v1/audit/events').query({ subject: s.id }).set(bearer(compliance)), 200);
  await go(
    'hospitalFlag',
    request(t.app).post(`/v1/subjects/${s.id}/risk-flags`).set(bearer(socialWorker)).send({ code: 'self-harm', severity: 'medium' }),
    201,
  );
  await go('contributorReadsAgain', read(contributor), 200); // now shows the hospital's flag
  await go('formulaReads', read(formula), 200);
  await go('officerReadsTwin', read(officer, twin.id), 200);
});
afterAll(() => database?.close());

const DISCLOSED = ['clerkReads', 'dispatcherSearches', 'clerkReadsFlags', 'doctorReads', 'officerReads', 'erReads', 'contributorReadsAgain', 'formulaReads'];

describe('GET /v1/audit/subjects/:id/disclosures (JSON)', () => {
  it('lists exactly the disclosures, oldest first, and none of the exempt accesses', async () => {
    const res = await accounting(s.id);
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ subject: s.id, from: expect.any(String), to: expect.any(String) });
    // The default period: the last six years.
    const years = (Date.parse(res.body.to) - Date.parse(res.body.from)) / (365.25 * 86_400_000);
    expect(years).toBeGreaterThan(5.99);
    expect(years).toBeLessThan(6.01);
    expect(Math.abs(Date.parse(res.body.to) - Date.now())).toBeLessThan(60_000);
    const list: DisclosureJson[] = res.body.disclosures;
    expect(list.map((d) => d.eventId)).toEqual(DISCLOSED.map((n) => ev[n]));
    for (const exempt of [
      'flagByContributor',
      'contributorReads',
      'peerReads',
      'dispatcherSearchesOther',
      'erDeclares',
      'adminReads',
      'dispatcherWrites',
      'complianceSearches',
      'hospitalFlag',
      'officerReadsTwin',
    ]) {
      expect(list.map((d) => d.eventId)).not.toContain(ev[exempt]);
    }
    for (const d of list) {
      expect(Object.keys(d)).toEqual(expect.arrayContaining(['at', 'recipient', 'tier', 'kinds', 'purpose', 'basis', 'breakGlass']));
      expect(d.recipient).toMatchObject({ user: expect.any(String), agency: expect.any(String) });
      expect(Number.isNaN(Date.parse(d.at))).toBe(false);
    }
    expectNoMarkers(res);
  });

  it('describes each disclosure: recipient, tier, what, purpose and basis', async () => {
    const list = await disclosuresOf(s.id);
    const byName = Object.fromEntries(DISCLOSED.map((n) => [n, list.find((d) => d.eventId === ev[n])!]));
    expect(byName.clerkReads).toMatchObject({
      action: 'subject.read',
      recipient: { user: clerk.username, userId: clerk.userId, agency: police.slug, agencyKind: 'police', role: 'records_staff' },
      tier: 'basic',
      kinds: ['demographics', 'risk-flags'],
      purpose: 'public-safety',
      basis: [{ tier: 'basic', rule: 'partner-read' }],
      breakGlass: false,
      disclosedBy: [mh.slug],
    });
    expect(byName.dispatcherSearches).toMatchObject({
      action: 'subject.search',
      recipient: { user: dispatcher.username },
      tier: 'basic',
      kinds: ['demographics'],
      purpose: 'public-safety',
    });
    expect(byName.clerkReadsFlags).toMatchObject({ action: 'risk-flag.read', tier: 'basic', kinds: ['risk-flags'], purpose: 'public-safety' });
    expect(byName.doctorReads).toMatchObject({
      recipient: { agency: hospital.slug, agencyKind: 'hospital' },
      tier: 'intermediate',
      kinds: ['demographics', 'risk-flags', 'diagnosis'],
      purpose: 'care-coordination',
      breakGlass: false,
    });
    expect(byName.doctorReads!.disclosedBy).toEqual([mh.slug]);
    expect(byName.doctorReads!.basis).toContainEqual({ tier: 'intermediate', rule: 'consent', consentId });
    expect(byName.officerReads).toMatchObject({ tier: 'full', purpose: 'treatment', breakGlass: false });
    expect([...byName.officerReads!.kinds].sort()).toEqual(['demographics', 'diagnosis', 'note', 'risk-flags']);
    expect(byName.officerReads!.basis.some((b) => b.rule === 'open-case-member' && b.caseId)).toBe(true);
    expect(byName.erReads).toMatchObject({ recipient: { user: erDoctor.username }, tier: 'intermediate', purpose: 'emergency', breakGlass: true });
    expect(byName.erReads!.basis.some((b) => b.rule === 'break-glass' && b.breakGlassId)).toBe(true);
    // The contributor's own agency reading is a disclosure once it shows the hospital's flag.
    expect(byName.contributorReadsAgain).toMatchObject({
      recipient: { user: contributor.username, agency: mh.slug },
      // The tier of what it carried: its own full-tier entries (own-contribution).
      tier: 'full',
      purpose: 'treatment',
      disclosedBy: [hospital.slug],
    });
  });

  it('a search discloses every person it matched, and only them', async () => {
    expect((await disclosuresOf(twin.id)).map((d) => d.eventId)).toEqual([ev.dispatcherSearches, ev.officerReadsTwin]);
  });

  it('logs the accounting itself, which never appears in an accounting', async () => {
    const res = await accounting(s.id);
    expect(await logOf(res)).toEqual([
      expect.objectContaining({
        action: 'audit.disclosures.read',
        decision: 'allow',
        actor_user_id: compliance.userId,
        subject_id: s.id,
        tier: null,
        detail: expect.objectContaining({ format: 'json', returned: DISCLOSED.length }),
      }),
    ]);
    expect((await disclosuresOf(s.id)).map((d) => d.eventId)).toEqual(DISCLOSED.map((n) => ev[n]));
  });

  it('reaches back six years, and no further', async () => {
    // Entries of an older deployment: their months' partitions first (the log is partitioned by month).
    await database.admin(`select tiergate_create_log_partition(now() - interval '5 years'), tiergate_create_log_partition(now() - interval '7 years')`);
    const p = await database.admin(
      `INSERT INTO access_log (request_id, actor_user_id, actor_username, actor_agency, actor_role, subject_id, action, decision, tier, basis, at)
       VALUES ('old-1', $1, $2, $3, 'records_staff', $4, 'subject.read', 'allow', 'basic', '[{"tier":"basic","rule":"partner-read"}]', now() - interval '5 years'),
              ('old-2', $1, $2, $3, 'records_staff', $4, 'subject.read', 'allow', 'basic', '[{"tier":"basic","rule":"partner-read"}]', now() - interval '7 years'),
              ('old-3', $1, $2, $3, 'records_staff', $4, 'subject.read', 'deny', NULL, '[]', now() - interval '5 years')
       RETURNING id, request_id`,
      [clerk.userId, clerk.username, police.slug, s.id],
    );
    const id = (rid: string) => p.rows.find((r) => r.request_id === rid)!.id;
    const list = await disclosuresOf(s.id);
    expect(list.map((d) => d.eventId)).toEqual([id('old-1'), ...DISCLOSED.map((n) => ev[n])]);
    // An explicit window: from inclusive, to exclusive.
    const all = await disclosuresOf(s.id);
    const window = await disclosuresOf(s.id, { from: all[1]!.at, to: all[3]!.at });
    expect(window.map((d) => d.eventId)).toEqual([ev.clerkReads, ev.dispatcherSearches]);
    const recent = await disclosuresOf(s.id, { from: new Date(Date.now() - 3_600_000).toISOString() });
    expect(recent.map((d) => d.eventId)).toEqual(DISCLOSED.map((n) => ev[n]));
    // Beyond six years back is refused, and so is an empty or malformed period.
    const sevenYears = new Date(Date.now() - 7 * 365.25 * 86_400_000).toISOString();
    expectProblem(await accounting(s.id, { from: sevenYears }), 400);
    expectProblem(await accounting(s.id, { from: new Date(Date.now() - 6 * 366 * 86_400_000).toISOString() }), 400);
    expectProblem(await accounting(s.id, { to: sevenYears }), 400);
    expectProblem(await accounting(s.id, { from: all[2]!.at, to: all[2]!.at }), 400);
    expectProblem(await accounting(s.id, { from: 'last year' }), 400);
    expectProblem(await accounting(s.id, { format: 'xml' }), 400);
    expectProblem(await accounting(s.id, { unknown: '1' }), 400);
    expectProblem(await request(t.app).get('/v1/audit/subjects/not-a-uuid/disclosures').set(bearer(compliance)), 400);
  });

  it('an unknown person: 404, logged as a refusal', async () => {
    const res = await accounting('00000000-0000-4000-8000-000000000000');
    expectProblem(res, 404);
    expect(await logOf(res)).toEqual([expect.objectContaining({ action: 'audit.disclosures.read', decision: 'deny', reason: 'not-found' })]);
  });
});

describe('?format=csv', () => {
  it('exports RFC 4180 CSV with the same rows, formula cells neutralised', async () => {
    const json = await disclosuresOf(s.id);
    const res = await accounting(s.id, { format: 'csv' });
    expect(res.status, res.text).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/csv/);
    expect(res.headers['content-disposition']).toMatch(/^attachment/);
    expect(res.text.endsWith('\r\n')).toBe(true);
    const rows = parseCsv(res.text);
    expect(rows[0]).toEqual([
      'at',
      'recipient_user',
      'recipient_agency',
      'recipient_role',
      'recipient_client',
      'action',
      'tier',
      'kinds',
      'purpose',
      'basis',
      'break_glass',
      'disclosed_by',
      'event_id',
    ]);
    const body = rows.slice(1);
    expect(body.map((r) => r[12])).toEqual(json.map((d) => d.eventId));
    for (const r of body) expect(r).toHaveLength(13);
    const formulaRow = body.find((r) => r[12] === ev.formulaReads)!;
    expect(formulaRow[1]).toBe(`'${formula.username}`);
    for (const r of body) for (const cell of r) expect(cell).not.toMatch(/^[=+\-@\t\r]/);
    const er = body.find((r) => r[12] === ev.erReads)!;
    expect(er.slice(2, 11)).toEqual([
      erDoctor.agency,
      'clinician',
      '',
      'subject.read',
      'intermediate',
      expect.stringContaining('demographics'),
      'emergency',
      expect.stringContaining('break-glass'),
      'true',
    ]);
    expectNoMarkers(res);
    expect(await logOf(res)).toEqual([
      expect.objectContaining({ action: 'audit.disclosures.read', decision: 'allow', detail: expect.objectContaining({ format: 'csv' }) }),
    ]);
  });
});

describe('?format=fhir', () => {
  it('is a FHIR R4 Bundle of AuditEvents that passes the structural check', async () => {
    const json = await disclosuresOf(s.id);
    const res = await accounting(s.id, { format: 'fhir' });
    expect(res.status, res.text).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/);
    const bundle = JSON.parse(res.text) as { resourceType: string; type: string; entry: { fullUrl: string; resource: J }[] };
    expect(checkR4Bundle(bundle)).toEqual([]);
    expect(bundle.resourceType).toBe('Bundle');
    expect(['collection', 'searchset']).toContain(bundle.type);
    expect(bundle.entry.map((e) => e.resource.id)).toEqual(json.map((d) => d.eventId));
    for (const { resource: r } of bundle.entry) {
      expect(r.type).toEqual({ system: DCM, code: '110110', display: 'Patient Record' });
      expect(r.outcome).toBe('0');
      expect(r.source).toMatchObject({ observer: { display: 'tiergate' } });
      const [user, org] = r.agent as J[];
      expect(user).toMatchObject({ requestor: true, who: { identifier: { value: expect.any(String) } } });
      expect(org).toMatchObject({ requestor: false, who: { type: 'Organization', identifier: { value: expect.any(String) } } });
      expect(r.entity).toContainEqual(
        expect.objectContaining({
          what: { identifier: { system: expect.any(String), value: s.id } },
          role: { system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '1', display: 'Patient' },
        }),
      );
    }
    const byId = new Map(bundle.entry.map((e) => [e.resource.id, e.resource]));
    const read = byId.get(ev.clerkReads)!;
    expect(read).toMatchObject({ action: 'R', subtype: [{ system: 'http://hl7.org/fhir/restful-interaction', code: 'read' }] });
    expect((read.agent as J[])[0]).toMatchObject({ who: { identifier: { value: clerk.username } } });
    expect((read.agent as J[])[1]).toMatchObject({ who: { identifier: { value: police.slug }, display: police.slug } });
    expect(read.agent as J[]).toContainEqual(
      expect.objectContaining({
        type: { coding: [expect.objectContaining({ code: 'CST' })] },
        who: expect.objectContaining({ identifier: expect.objectContaining({ value: mh.slug }) }),
      }),
    );
    expect(byId.get(ev.dispatcherSearches)).toMatchObject({
      action: 'E',
      subtype: [{ system: 'http://hl7.org/fhir/restful-interaction', code: 'search-type' }],
    });
    // Break-glass: purposeOfUse BTG (emergency override) and ETREAT, both v3-ActReason.
    const btg = (byId.get(ev.erReads)!.agent as J[])[0]!;
    const codes = (btg.purposeOfUse as { coding?: { system: string; code: string }[] }[]).flatMap((c) => c.coding ?? []);
    expect(codes).toEqual(
      expect.arrayContaining([
        { system: ACT_REASON, code: 'BTG', display: expect.any(String) },
        { system: ACT_REASON, code: 'ETREAT', display: expect.any(String) },
      ]),
    );
    // Others carry no BTG.
    const plain = (byId.get(ev.doctorReads)!.agent as J[])[0]!.purposeOfUse as { coding?: { code: string }[]; text?: string }[];
    expect(plain.flatMap((c) => c.coding ?? []).map((c) => c.code)).not.toContain('BTG');
    expect(plain[0]).toMatchObject({ coding: [{ system: ACT_REASON, code: 'COC' }], text: 'care-coordination' });
    expectNoMarkers(res);
  });

  it('the checker catches a malformed AuditEvent (it is not vacuous)', async () => {
    const res = await accounting(s.id, { format: 'fhir' });
    const good = JSON.parse(res.text).entry[0].resource as J;
    expect(checkR4AuditEvent(good)).toEqual([]);
    const broken = (mutate: (r: J) => void) => {
      const r = structuredClone(good);
      mutate(r);
      return checkR4AuditEvent(r);
    };
    expect(broken((r) => delete r.recorded)).not.toEqual([]);
    expect(broken((r) => (r.recorded = '2024-01-01'))).not.toEqual([]);
    expect(broken((r) => (r.type = { text: 'x' }))).not.toEqual([]);
    expect(broken((r) => (r.agent = []))).not.toEqual([]);
    expect(broken((r) => delete (r.agent as J[])[0]!.requestor)).not.toEqual([]);
    expect(broken((r) => delete (r.source as J).observer)).not.toEqual([]);
    expect(broken((r) => (r.organization = 'x'))).not.toEqual([]);
    expect(checkR4Bundle({ resourceType: 'Bundle', type: 'list', entry: [] })).not.toEqual([]);
  });
});

describe('the policy decides what counts', () => {
  const withPolicy = async (disclosures: Partial<DisclosurePolicy>) => {
    const base = loadPolicy();
    return (await createTestApp(database.app, { policy: { ...base, disclosures: { ...base.disclosures, ...disclosures } } })).app;
  };
  const ids = async (app: TestApp['app']) => (await disclosuresOf(s.id, { from: new Date(Date.now() - 3_600_000).toISOString() }, app)).map((d) => d.eventId);

  it('count: only the listed actions', async () => {
    expect(await ids(await withPolicy({ count: ['subject.read'] }))).toEqual(
      ['clerkReads', 'doctorReads', 'officerReads', 'erReads', 'contributorReadsAgain', 'formulaReads'].map((n) => ev[n]),
    );
  });
  it('exemptRecipientAgencies: none accounts for own-agency reads too', async () => {
    expect(await ids(await withPolicy({ exemptRecipientAgencies: 'none' }))).toEqual(['contributorReads', 'peerReads', ...DISCLOSED].map((n) => ev[n]));
  });
  it('exemptPurposes and exemptRecipientKinds', async () => {
    expect(await ids(await withPolicy({ exemptPurposes: ['treatment'] }))).toEqual(
      DISCLOSED.filter((n) => n !== 'officerReads' && n !== 'contributorReadsAgain').map((n) => ev[n]),
    );
    expect(await ids(await withPolicy({ exemptRecipientKinds: ['police'] }))).toEqual(['doctorReads', 'erReads', 'contributorReadsAgain'].map((n) => ev[n]));
  });
  it('partner-read purposes by agency kind', async () => {
    const base = loadPolicy().disclosures;
    const app = await withPolicy({ purposes: { ...base.purposes, 'partner-read': { default: 'operations', police: 'law-enforcement' } } });
    const list = await disclosuresOf(s.id, { from: new Date(Date.now() - 3_600_000).toISOString() }, app);
    expect(list.find((d) => d.eventId === ev.clerkReads)!.purpose).toBe('law-enforcement');
    expect(list.find((d) => d.eventId === ev.contributorReadsAgain)!.purpose).toBe('operations');
  });
  it('an unknown action or key in the disclosures section fails at start-up', () => {
    const raw = loadPolicy();
    expect(() => parsePolicy({ ...raw, disclosures: { ...raw.disclosures, count: ['subject.create'] } })).toThrow(/disclosures\.count/);
    expect(() => parsePolicy({ ...raw, disclosures: { ...raw.disclosures, exemptRecipientAgencies: 'sometimes' } })).toThrow(/invalid policy/);
    expect(() => parsePolicy({ ...raw, disclosures: { ...raw.disclosures, extra: true } })).toThrow(/invalid policy/);
    const { disclosures: _d, ...missing } = raw;
    expect(() => parsePolicy(missing)).toThrow(/disclosures/);
  });
});

describe('everyone but compliance is refused', () => {
  it.each([
    ['records_staff', () => clerk],
    ['clinician', () => contributor],
    ['hospital clinician', () => doctor],
    ['admin', () => admin],
  ])('a %s gets 403 in every format, and the refusal is logged', async (_role, who) => {
    for (const format of ['json', 'csv', 'fhir']) {
      const res = await accounting(s.id, { format }, who());
      expectProblem(res, 403);
      expect(res.text).not.toContain(ev.clerkReads);
      expectNoMarkers(res);
      expect(await logOf(res)).toEqual([
        expect.objectContaining({ action: 'audit.disclosures.read', decision: 'deny', reason: 'no-rule:read:AuditEvent', actor_user_id: who().userId }),
      ]);
    }
  });
  it('no token: 401', async () => {
    expectProblem(await request(t.app).get(`/v1/audit/subjects/${s.id}/disclosures`), 401);
  });
});

describe('npm run audit:disclosures (the same accounting from the command line)', () => {
  const cli = (args: string[], env: Record<string, string> = {}) => runScript('scripts/audit-disclosures.ts', args, { USER: 'compliance-ops', ...env });

  it('answers usage (2) to a missing or malformed subject id, format or date', async () => {
    for (const args of [[], ['not-a-uuid'], [s.id, '--format', 'xml'], [s.id, '--from', 'last year'], [s.id, '--bogus']]) {
      expect(await cli(args), args.join(' ')).toMatchObject({ code: 2, stderr: expect.stringMatching(/usage/) });
    }
  });

  it('prints the accounting as CSV, logs it with the operator, refuses an unknown person and a period out of reach', async () => {
    if (database.driver !== 'pg') return; // the in-memory PGlite of this file is not reachable from another process
    const env = { DATABASE_URL: database.ownerUrl! };
    const api = parseCsv((await accounting(s.id, { format: 'csv' })).text);
    const printed = await cli([s.id, '--format', 'csv'], env);
    expect(printed.code, printed.stderr).toBe(0);
    expect(parseCsv(printed.stdout.replace(/\n$/, ''))).toEqual(api);
    const { rows } = await database.admin(`select decision, subject_id, detail from access_log where request_id like 'cli:%' order by seq`);
    expect(rows).toEqual([
      { decision: 'allow', subject_id: s.id, detail: expect.objectContaining({ format: 'csv', returned: api.length - 1, operator: 'compliance-ops' }) },
    ]);

    const unknown = '00000000-0000-4000-8000-000000000001';
    expect(await cli([unknown], env)).toMatchObject({ code: 1, stderr: expect.stringMatching(/refused/) });
    const denied = await database.admin(`select decision, reason from access_log where request_id like 'cli:%' and subject_id = $1`, [unknown]);
    expect(denied.rows).toEqual([{ decision: 'deny', reason: 'not-found' }]);
    const sevenYears = new Date(Date.now() - 7 * 365.25 * 86_400_000).toISOString();
    expect(await cli([s.id, '--from', sevenYears], env)).toMatchObject({ code: 1, stderr: expect.stringMatching(/six years|6 years/) });
  });
});
