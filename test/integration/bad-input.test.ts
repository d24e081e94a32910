import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { openTestDatabase, type TestDatabase } from '../helpers/db.js';
import { bearer, createAgency, createCase, createConsent, createEntry, createSubject, createUser, type TestUser } from '../helpers/factories.js';

// SPEC principle 7: bad input gets a clear application/problem+json error (RFC 9457), does not
// echo what was sent, changes nothing, and discloses nothing.

let database: TestDatabase;
let t: TestApp;
let clinician: TestUser;
let clerk: TestUser;
let subject: Awaited<ReturnType<typeof createSubject>>;
let consentId: string;
let caseId: string;
let tables: string[];
const markers: string[] = [];
const GIVEN = `Orlaith${randomUUID().slice(0, 6)}`;
const FAMILY = `Drummond${randomUUID().slice(0, 6)}`;

beforeAll(async () => {
  database = await openTestDatabase();
  t = await createTestApp(database.app);
  const mh = await createAgency(t.deps.db, 'mental_health');
  const police = await createAgency(t.deps.db, 'police');
  clinician = await createUser(t.deps, mh, 'clinician');
  clerk = await createUser(t.deps, police, 'records_staff');
  subject = await createSubject(t.deps.db, clinician, { givenName: GIVEN, familyName: FAMILY, birthDate: '1977-04-05' });
  consentId = (await createConsent(t.deps.db, subject.id, clinician, { kinds: ['police'] })).id;
  caseId = (await createCase(t.deps.db, subject.id, clinician, [clinician])).id;
  markers.push((await createEntry(t.deps.db, subject.id, clinician, 'intermediate')).marker);
  markers.push((await createEntry(t.deps.db, subject.id, clinician, 'full', ['substance-use'])).marker);
  const { rows } = await database.admin(
    `SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'
       AND table_name NOT IN ('audit_seal_queue', 'audit_seals', 'audit_checkpoints')
       AND table_name !~ '^access_log_y[0-9]{4}m[0-9]{2}$' ORDER BY 1`, // the log's monthly partitions count under access_log
  );
  tables = rows.map((r) => r.t as string);
  expect(tables).toEqual(
    expect.arrayContaining(['access_log', 'subjects', 'risk_flags', 'clinical_entries', 'consents', 'cases', 'case_members', 'break_glass_grants']),
  );
});
afterAll(() => database?.close());

/** Row counts of every table (the sealer's own tables aside), in one statement. */
async function snapshot(): Promise<Record<string, number>> {
  const { rows } = await database.admin(`SELECT ${tables.map((n) => `(SELECT count(*)::int FROM "${n}") AS "${n}"`).join(', ')}`);
  return Object.fromEntries(Object.entries(rows[0]!).map(([k, v]) => [k, Number(v)]));
}

const tomorrow = () => new Date(Date.now() + 2 * 86_400_000).toISOString().slice(0, 10);
const validSubject = { givenName: 'Ada', familyName: 'Lovelace', birthDate: '1985-02-03', sex: 'female' };
const validFlag = { code: 'weapon-access', severity: 'high', note: 'keeps a knife' };
const validEntry = { kind: 'diagnosis', tier: 'intermediate', sensitivity: [], summary: 'a summary', content: { a: 1 } };
const validConsent = {
  recipients: [{ agencyKind: 'hospital' }],
  tiers: ['intermediate'],
  sensitiveCategories: [],
  purpose: 'care-coordination',
  validFrom: '2024-01-01T00:00:00Z',
  validUntil: '2099-01-01T00:00:00Z',
  evidence: { form: 'written' },
};

interface Case {
  name: string;
  method: 'get' | 'post' | 'delete';
  path: () => string;
  /** An object is sent as JSON; a string is sent raw with `type`. */
  body?: unknown;
  type?: string;
  as?: () => TestUser;
  status: number;
  /** Strings the response must not contain (the offending input). */
  echo?: string[];
  /** A field path the error names. */
  field?: string;
}

const E = (n: number) => `ECHO${n}x${randomUUID().slice(0, 8)}`;
const echoes: Record<string, string> = {};
const echo = (k: string) => (echoes[k] ??= E(Object.keys(echoes).length));

const cases: Case[] = [
  // Body syntax.
  {
    name: 'malformed JSON',
    method: 'post',
    path: () => '/v1/subjects',
    body: `{"givenName":"${echo('mj')}", "familyName": `,
    type: 'application/json',
    status: 400,
    echo: [echo('mj')],
  },
  {
    name: 'JSON with a trailing comma',
    method: 'post',
    path: () => '/v1/subjects',
    body: `{"givenName":"${echo('tc')}",}`,
    type: 'application/json',
    status: 400,
    echo: [echo('tc')],
  },
  {
    name: 'a JSON string, not an object',
    method: 'post',
    path: () => '/v1/subjects',
    body: `"${echo('js')}"`,
    type: 'application/json',
    status: 400,
    echo: [echo('js')],
  },
  { name: 'a JSON array, not an object', method: 'post', path: () => '/v1/subjects', body: [echo('ja')], status: 400, echo: [echo('ja')] },
  {
    name: 'JSON sent as text/plain',
    method: 'post',
    path: () => '/v1/subjects',
    body: JSON.stringify({ ...validSubject, givenName: echo('tp') }),
    type: 'text/plain',
    status: 400,
    echo: [echo('tp')],
  },
  {
    name: 'an unsupported charset',
    method: 'post',
    path: () => '/v1/subjects',
    body: JSON.stringify({ ...validSubject, givenName: echo('cs') }),
    type: 'application/json; charset=ebcdic',
    status: 415,
    echo: [echo('cs')],
  },
  // Types and unknown fields (strict schemas).
  {
    name: 'a number for a name',
    method: 'post',
    path: () => '/v1/subjects',
    body: { ...validSubject, givenName: 918273645 },
    status: 400,
    echo: ['918273645'],
    field: 'givenName',
  },
  {
    name: 'an array for a name',
    method: 'post',
    path: () => '/v1/subjects',
    body: { ...validSubject, familyName: [echo('arr')] },
    status: 400,
    echo: [echo('arr')],
    field: 'familyName',
  },
  {
    name: 'an object for a name',
    method: 'post',
    path: () => '/v1/subjects',
    body: { ...validSubject, familyName: { $ne: echo('obj') } },
    status: 400,
    echo: [echo('obj')],
    field: 'familyName',
  },
  {
    name: 'an unknown enum value',
    method: 'post',
    path: () => '/v1/subjects',
    body: { ...validSubject, sex: echo('sex') },
    status: 400,
    echo: [echo('sex')],
    field: 'sex',
  },
  {
    name: 'null for a required field',
    method: 'post',
    path: () => '/v1/subjects',
    body: { ...validSubject, givenName: null },
    status: 400,
    field: 'givenName',
  },
  {
    name: 'a missing field',
    method: 'post',
    path: () => '/v1/subjects',
    body: { givenName: echo('mf'), familyName: 'X', sex: 'male' },
    status: 400,
    echo: [echo('mf')],
    field: 'birthDate',
  },
  { name: 'an unknown field', method: 'post', path: () => '/v1/subjects', body: { ...validSubject, ssn: echo('ssn') }, status: 400, echo: [echo('ssn')] },
  {
    name: 'an unknown field named in free text',
    method: 'post',
    path: () => '/v1/subjects',
    body: { ...validSubject, [`Jane ${echo('ukey')} is HIV+`]: true },
    status: 400,
    echo: [echo('ukey'), 'HIV'],
  },
  {
    name: 'a clinical-content key over 100 characters',
    method: 'post',
    path: () => `/v1/subjects/${subject.id}/entries`,
    body: { ...validEntry, content: { [`patient disclosed ${echo('ckey')} `.padEnd(120, 'x')]: 1 } },
    status: 400,
    echo: [echo('ckey'), 'disclosed'],
    field: 'content.*',
  },
  {
    name: 'a __proto__ field',
    method: 'post',
    path: () => '/v1/subjects',
    body: `{"givenName":"Ada","familyName":"Lovelace","birthDate":"1985-02-03","sex":"female","__proto__":{"agencyId":"${echo('proto')}"}}`,
    type: 'application/json',
    status: 400,
    echo: [echo('proto')],
  },
  { name: 'a server-owned field (agencyId)', method: 'post', path: () => '/v1/subjects', body: { ...validSubject, agencyId: randomUUID() }, status: 400 },
  {
    name: 'an over-long name',
    method: 'post',
    path: () => '/v1/subjects',
    body: { ...validSubject, givenName: echo('long').padEnd(101, 'y') },
    status: 400,
    echo: [echo('long')],
    field: 'givenName',
  },
  { name: 'a blank name', method: 'post', path: () => '/v1/subjects', body: { ...validSubject, givenName: '   \t ' }, status: 400, field: 'givenName' },
  // Dates.
  {
    name: 'birthDate 2024-02-30',
    method: 'post',
    path: () => '/v1/subjects',
    body: { ...validSubject, birthDate: '2024-02-30' },
    status: 400,
    echo: ['2024-02-30'],
    field: 'birthDate',
  },
  {
    name: 'birthDate 2023-02-29 (not a leap year)',
    method: 'post',
    path: () => '/v1/subjects',
    body: { ...validSubject, birthDate: '2023-02-29' },
    status: 400,
    echo: ['2023-02-29'],
    field: 'birthDate',
  },
  {
    name: 'birthDate month 13',
    method: 'post',
    path: () => '/v1/subjects',
    body: { ...validSubject, birthDate: '1985-13-01' },
    status: 400,
    echo: ['1985-13-01'],
    field: 'birthDate',
  },
  {
    name: 'birthDate without zero padding',
    method: 'post',
    path: () => '/v1/subjects',
    body: { ...validSubject, birthDate: '1985-2-3' },
    status: 400,
    echo: ['1985-2-3'],
    field: 'birthDate',
  },
  {
    name: 'birthDate as a date-time',
    method: 'post',
    path: () => '/v1/subjects',
    body: { ...validSubject, birthDate: '1985-02-03T00:00:00Z' },
    status: 400,
    field: 'birthDate',
  },
  {
    name: 'a future birthDate',
    method: 'post',
    path: () => '/v1/subjects',
    body: { ...validSubject, birthDate: tomorrow() },
    status: 400,
    echo: [tomorrow()],
    field: 'birthDate',
  },
  {
    name: 'a birthDate before 1900',
    method: 'post',
    path: () => '/v1/subjects',
    body: { ...validSubject, birthDate: '1899-12-31' },
    status: 400,
    echo: ['1899-12-31'],
    field: 'birthDate',
  },
  // Control characters.
  {
    name: 'a NUL in a name',
    method: 'post',
    path: () => '/v1/subjects',
    body: { ...validSubject, givenName: `Ada\u0000${echo('nul')}` },
    status: 400,
    echo: [echo('nul')],
    field: 'givenName',
  },
  {
    name: 'an ESC sequence in a name',
    method: 'post',
    path: () => '/v1/subjects',
    body: { ...validSubject, familyName: `\u001b[31m${echo('esc')}` },
    status: 400,
    echo: [echo('esc')],
    field: 'familyName',
  },
  {
    name: 'a DEL in a risk-flag note',
    method: 'post',
    path: () => `/v1/subjects/${subject.id}/risk-flags`,
    body: { ...validFlag, note: `x\u007f${echo('del')}` },
    status: 400,
    echo: [echo('del')],
    field: 'note',
  },
  {
    name: 'a CR in an entry summary',
    method: 'post',
    path: () => `/v1/subjects/${subject.id}/entries`,
    body: { ...validEntry, summary: `x\r${echo('cr')}` },
    status: 400,
    echo: [echo('cr')],
    field: 'summary',
  },
  // Risk flags.
  {
    name: 'a risk-flag code with spaces',
    method: 'post',
    path: () => `/v1/subjects/${subject.id}/risk-flags`,
    body: { ...validFlag, code: `Weapon ${echo('code')}` },
    status: 400,
    echo: [echo('code')],
    field: 'code',
  },
  {
    name: 'an unknown severity',
    method: 'post',
    path: () => `/v1/subjects/${subject.id}/risk-flags`,
    body: { ...validFlag, severity: echo('sev') },
    status: 400,
    echo: [echo('sev')],
    field: 'severity',
  },
  {
    name: 'a risk flag with an unknown field',
    method: 'post',
    path: () => `/v1/subjects/${subject.id}/risk-flags`,
    body: { ...validFlag, subjectId: randomUUID() },
    status: 400,
  },
  // Entries.
  {
    name: 'an entry of tier basic',
    method: 'post',
    path: () => `/v1/subjects/${subject.id}/entries`,
    body: { ...validEntry, tier: 'basic' },
    status: 400,
    field: 'tier',
  },
  {
    name: 'an entry of unknown kind',
    method: 'post',
    path: () => `/v1/subjects/${subject.id}/entries`,
    body: { ...validEntry, kind: echo('kind') },
    status: 400,
    echo: [echo('kind')],
    field: 'kind',
  },
  {
    name: 'an unknown sensitivity label',
    method: 'post',
    path: () => `/v1/subjects/${subject.id}/entries`,
    body: { ...validEntry, sensitivity: [echo('sens')] },
    status: 400,
    echo: [echo('sens')],
  },
  {
    name: 'content that is an array',
    method: 'post',
    path: () => `/v1/subjects/${subject.id}/entries`,
    body: { ...validEntry, content: [echo('carr')] },
    status: 400,
    echo: [echo('carr')],
    field: 'content',
  },
  {
    name: 'content over 32000 characters',
    method: 'post',
    path: () => `/v1/subjects/${subject.id}/entries`,
    body: { ...validEntry, content: { text: echo('big').padEnd(40_000, 'z') } },
    status: 400,
    echo: [echo('big')],
    field: 'content',
  },
  {
    name: 'a body over BODY_LIMIT (64kb)',
    method: 'post',
    path: () => `/v1/subjects/${subject.id}/entries`,
    body: { ...validEntry, content: { text: echo('huge').padEnd(70 * 1024, 'z') } },
    status: 413,
    echo: [echo('huge')],
  },
  // Consents.
  {
    name: '`full` in consent tiers',
    method: 'post',
    path: () => `/v1/subjects/${subject.id}/consents`,
    body: { ...validConsent, tiers: ['full'] },
    status: 400,
    field: 'tiers',
  },
  {
    name: '`full` beside intermediate in consent tiers',
    method: 'post',
    path: () => `/v1/subjects/${subject.id}/consents`,
    body: { ...validConsent, tiers: ['intermediate', 'full'] },
    status: 400,
    field: 'tiers',
  },
  {
    name: '`basic` in consent tiers',
    method: 'post',
    path: () => `/v1/subjects/${subject.id}/consents`,
    body: { ...validConsent, tiers: ['basic'] },
    status: 400,
  },
  {
    name: 'no consent tiers',
    method: 'post',
    path: () => `/v1/subjects/${subject.id}/consents`,
    body: { ...validConsent, tiers: [] },
    status: 400,
    field: 'tiers',
  },
  {
    name: 'validUntil before validFrom',
    method: 'post',
    path: () => `/v1/subjects/${subject.id}/consents`,
    body: { ...validConsent, validFrom: '2030-01-01T00:00:00Z', validUntil: '2029-12-31T23:59:59Z' },
    status: 400,
    field: 'validUntil',
  },
  {
    name: 'validUntil equal to validFrom',
    method: 'post',
    path: () => `/v1/subjects/${subject.id}/consents`,
    body: { ...validConsent, validFrom: '2030-01-01T00:00:00Z', validUntil: '2030-01-01T00:00:00Z' },
    status: 400,
    field: 'validUntil',
  },
  {
    name: 'validFrom 2024-02-30',
    method: 'post',
    path: () => `/v1/subjects/${subject.id}/consents`,
    body: { ...validConsent, validFrom: '2024-02-30T00:00:00Z' },
    status: 400,
    field: 'validFrom',
  },
  {
    name: 'validFrom without an offset',
    method: 'post',
    path: () => `/v1/subjects/${subject.id}/consents`,
    body: { ...validConsent, validFrom: '2024-01-01T00:00:00' },
    status: 400,
    field: 'validFrom',
  },
  {
    name: 'no recipients',
    method: 'post',
    path: () => `/v1/subjects/${subject.id}/consents`,
    body: { ...validConsent, recipients: [] },
    status: 400,
    field: 'recipients',
  },
  {
    name: 'a recipient of the gateway kind',
    method: 'post',
    path: () => `/v1/subjects/${subject.id}/consents`,
    body: { ...validConsent, recipients: [{ agencyKind: 'gateway' }] },
    status: 400,
  },
  {
    name: 'a recipient with both agency and kind',
    method: 'post',
    path: () => `/v1/subjects/${subject.id}/consents`,
    body: { ...validConsent, recipients: [{ agency: 'abc', agencyKind: 'police' }] },
    status: 400,
  },
  {
    name: 'an unknown recipient agency',
    method: 'post',
    path: () => `/v1/subjects/${subject.id}/consents`,
    body: { ...validConsent, recipients: [{ agency: 'no-such-agency' }] },
    status: 400,
  },
  {
    name: 'verbal consent without a witness',
    method: 'post',
    path: () => `/v1/subjects/${subject.id}/consents`,
    body: { ...validConsent, evidence: { form: 'verbal' } },
    status: 400,
  },
  {
    name: 'a free-text purpose',
    method: 'post',
    path: () => `/v1/subjects/${subject.id}/consents`,
    body: { ...validConsent, purpose: `Care ${echo('purp')}` },
    status: 400,
    echo: [echo('purp')],
    field: 'purpose',
  },
  { name: 'a revoke without a reason', method: 'post', path: () => `/v1/consents/${consentId}/revoke`, body: {}, status: 400, field: 'reason' },
  {
    name: 'a revoke with an unknown field',
    method: 'post',
    path: () => `/v1/consents/${consentId}/revoke`,
    body: { reason: 'r', status: 'active' },
    status: 400,
  },
  // Ids.
  { name: 'a non-UUID subject id (read)', method: 'get', path: () => `/v1/subjects/not-a-uuid-${echo('id1')}`, status: 400, echo: [echo('id1')] },
  { name: 'an SQL-ish subject id', method: 'get', path: () => `/v1/subjects/${encodeURIComponent("1' OR '1'='1")}`, status: 400 },
  { name: 'a UUID with trailing text', method: 'get', path: () => `/v1/subjects/${subject.id}x`, status: 400 },
  { name: 'a non-UUID subject id (risk flag)', method: 'post', path: () => '/v1/subjects/12345/risk-flags', body: validFlag, status: 400 },
  { name: 'a non-UUID consent id', method: 'post', path: () => '/v1/consents/abc/revoke', body: { reason: 'r' }, status: 400 },
  { name: 'a non-UUID case id', method: 'post', path: () => '/v1/cases/abc/close', status: 400 },
  { name: 'a non-UUID member id', method: 'delete', path: () => `/v1/cases/${caseId}/members/abc`, status: 400 },
  {
    name: 'a non-UUID subjectId for a case',
    method: 'post',
    path: () => '/v1/cases',
    body: { subjectId: echo('sid'), title: 't' },
    status: 400,
    echo: [echo('sid')],
    field: 'subjectId',
  },
  { name: 'an unknown subject (read)', method: 'get', path: () => `/v1/subjects/${randomUUID()}`, status: 404 },
  { name: 'an unknown subject (risk flags)', method: 'get', path: () => `/v1/subjects/${randomUUID()}/risk-flags`, status: 404 },
  { name: 'an unknown subject (risk-flag write)', method: 'post', path: () => `/v1/subjects/${randomUUID()}/risk-flags`, body: validFlag, status: 404 },
  { name: 'an unknown subject (entry write)', method: 'post', path: () => `/v1/subjects/${randomUUID()}/entries`, body: validEntry, status: 404 },
  { name: 'an unknown subject (consent write)', method: 'post', path: () => `/v1/subjects/${randomUUID()}/consents`, body: validConsent, status: 404 },
  { name: 'an unknown consent (revoke)', method: 'post', path: () => `/v1/consents/${randomUUID()}/revoke`, body: { reason: 'r' }, status: 404 },
  { name: 'an unknown subject (case)', method: 'post', path: () => '/v1/cases', body: { subjectId: randomUUID(), title: 't' }, status: 404 },
  { name: 'an unknown case (close)', method: 'post', path: () => `/v1/cases/${randomUUID()}/close`, status: 404 },
  {
    name: 'an unknown subject (break-glass)',
    method: 'post',
    path: () => `/v1/subjects/${randomUUID()}/break-glass`,
    body: { reason: 'patient in crisis on scene' },
    status: 404,
  },
  {
    name: 'a break-glass reason too short',
    method: 'post',
    path: () => `/v1/subjects/${subject.id}/break-glass`,
    body: { reason: 'short' },
    status: 400,
    field: 'reason',
  },
  // Search queries.
  {
    name: 'a search without dob',
    method: 'get',
    path: () => `/v1/subjects?name=${echo('q1')}`,
    as: () => clerk,
    status: 400,
    echo: [echo('q1')],
    field: 'dob',
  },
  {
    name: 'a search with dob 2024-02-30',
    method: 'get',
    path: () => `/v1/subjects?name=${FAMILY}&dob=2024-02-30`,
    as: () => clerk,
    status: 400,
    echo: [FAMILY],
    field: 'dob',
  },
  {
    name: 'a search with a future dob',
    method: 'get',
    path: () => `/v1/subjects?name=${FAMILY}&dob=${tomorrow()}`,
    as: () => clerk,
    status: 400,
    echo: [FAMILY],
    field: 'dob',
  },
  {
    name: 'a search with an unknown parameter',
    method: 'get',
    path: () => `/v1/subjects?name=${FAMILY}&dob=1977-04-05&ssn=${echo('q2')}`,
    as: () => clerk,
    status: 400,
    echo: [echo('q2'), FAMILY],
  },
  {
    name: 'a search with a repeated parameter',
    method: 'get',
    path: () => `/v1/subjects?name=${FAMILY}&name=${echo('q3')}&dob=1977-04-05`,
    as: () => clerk,
    status: 400,
    echo: [echo('q3'), FAMILY],
    field: 'name',
  },
  {
    name: 'a search with a NUL in the name',
    method: 'get',
    path: () => `/v1/subjects?name=${FAMILY}%00&dob=1977-04-05`,
    as: () => clerk,
    status: 400,
    echo: [FAMILY],
    field: 'name',
  },
  { name: 'a search with a bracketed parameter', method: 'get', path: () => `/v1/subjects?name[$ne]=x&dob=1977-04-05`, as: () => clerk, status: 400 },
];

const isDenial = (c: Case) => c.status === 404;

describe('bad input', () => {
  it('control: the valid bodies are accepted', async () => {
    const ok = [
      await request(t.app).post('/v1/subjects').set(bearer(clinician)).send(validSubject),
      await request(t.app).post(`/v1/subjects/${subject.id}/risk-flags`).set(bearer(clinician)).send(validFlag),
      await request(t.app).post(`/v1/subjects/${subject.id}/entries`).set(bearer(clinician)).send(validEntry),
      await request(t.app).post(`/v1/subjects/${subject.id}/consents`).set(bearer(clinician)).send(validConsent),
      await request(t.app).get(`/v1/subjects?name=${FAMILY}&dob=1977-04-05`).set(bearer(clerk)),
    ];
    for (const res of ok) expect(res.status, res.text).toBeLessThan(300);
  });

  it.each(cases)('$name → $status problem+json, nothing changed, nothing echoed', async (c) => {
    const before = await snapshot();
    let req = request(t.app)
      [c.method](c.path())
      .set(bearer((c.as ?? (() => clinician))()));
    if (c.type) req = req.set('Content-Type', c.type);
    const res = await (c.body === undefined ? req : req.send(c.body as object));

    expect(res.status, res.text).toBe(c.status);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body.status).toBe(c.status);
    expect(res.body.type).toMatch(/^https?:\/\/\S+$/);
    expect(typeof res.body.title).toBe('string');
    expect(res.body.title.length).toBeGreaterThan(0);
    if (c.field)
      expect(
        res.body.errors?.map((e: { path: string }) => e.path),
        res.text,
      ).toContain(c.field);
    // No echo of the input, no person data, no internals.
    for (const s of c.echo ?? []) expect(res.text).not.toContain(s);
    for (const s of [...markers, GIVEN, FAMILY, 'Lovelace']) expect(res.text).not.toContain(s);
    expect(res.text).not.toMatch(/at .*\.(ts|js):\d+|node_modules|SELECT |INSERT |postgres|pglite|ZodError/i);

    // Nothing changed; a 404 is a decision about access and is the one logged denial.
    const after = await snapshot();
    expect(after).toEqual({ ...before, access_log: before.access_log! + (isDenial(c) ? 1 : 0) });
    if (isDenial(c)) {
      const { rows } = await database.admin(`SELECT decision, reason FROM access_log ORDER BY seq DESC LIMIT 1`);
      expect(rows[0]).toMatchObject({ decision: 'deny', reason: 'not-found' });
    }
  });

  it('the consent under test was not revoked and no case was closed', async () => {
    const { rows } = await database.admin('SELECT revoked_at FROM consents WHERE id = $1', [consentId]);
    expect(rows[0]!.revoked_at).toBeNull();
    const { rows: c } = await database.admin('SELECT status FROM cases WHERE id = $1', [caseId]);
    expect(c[0]!.status).toBe('open');
  });

  it('bad input without a token is still refused before anything is read', async () => {
    const before = await snapshot();
    const res = await request(t.app).post('/v1/subjects').set('Content-Type', 'application/json').send('{"givenName":');
    expect([400, 401]).toContain(res.status);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    const after = await snapshot();
    expect({ ...after, access_log: 0 }).toEqual({ ...before, access_log: 0 });
  });
});
