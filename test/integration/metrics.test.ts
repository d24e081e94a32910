import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sealAndCheckpoint } from '../../src/audit/seal.js';
import { loadConfig } from '../../src/config/index.js';
import { exposeMetrics } from '../../src/metrics/server.js';
import { createTestApp, TEST_ENV, type TestApp } from '../helpers/app.js';
import { openTestDatabase, type TestDatabase } from '../helpers/db.js';
import { bearer, createAgency, createSubject, createUser, type TestUser } from '../helpers/factories.js';

// GET /metrics on METRICS_PORT: Prometheus text with the series operators alert on, labelled by
// route pattern, status, tier, basis rule and deny reason, and never by a person, user or id.

let database: TestDatabase;
let t: TestApp;
let server: Server;
let clinician: TestUser;
let clerk: TestUser;
let subject: { id: string; familyName: string; birthDate: string };

const scrape = async () => {
  const res = await request(server).get('/metrics');
  expect(res.status).toBe(200);
  expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  return res.text;
};
/** The value of one series whose labels include `labels`, or undefined. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.split(' ').at(-1));
  }
  return undefined;
}

beforeAll(async () => {
  database = await openTestDatabase();
  t = await createTestApp(database.app);
  const [mh, police] = await Promise.all([createAgency(t.deps.db, 'mental_health'), createAgency(t.deps.db, 'police')]);
  clinician = await createUser(t.deps, mh, 'clinician', 'metrics-clinician@harbor-mh');
  clerk = await createUser(t.deps, police, 'records_staff', 'metrics-clerk@metro-police');
  subject = await createSubject(t.deps.db, clinician, { familyName: 'Metricperson', birthDate: '1971-03-04' });
  server = exposeMetrics(0, '127.0.0.1', t.deps.metrics, t.deps.logger)!;
  await new Promise((r) => server.once('listening', r));
});

afterAll(async () => {
  server?.close();
  t?.deps.metrics.close();
  await database?.close();
});

describe('metrics', () => {
  it('listens on a port of its own, apart from the API, and answers nothing but GET /metrics', async () => {
    expect((server.address() as AddressInfo).port).toBeGreaterThan(0);
    expect((await request(server).get('/')).status).toBe(404);
    expect((await request(server).post('/metrics')).status).toBe(404);
    // The API's own listener does not publish them.
    expect((await request(t.app).get('/metrics')).status).toBe(404);
  });

  it('is off unless METRICS_PORT is set', () => {
    expect(loadConfig(TEST_ENV).METRICS_PORT).toBeUndefined();
    expect(exposeMetrics(undefined, '127.0.0.1', t.deps.metrics, t.deps.logger)).toBeUndefined();
    expect(loadConfig({ ...TEST_ENV, METRICS_PORT: '9464' }).METRICS_PORT).toBe(9464);
  });

  it('counts requests and their latency by route pattern, method and status, never by URL', async () => {
    expect((await request(t.app).get(`/v1/subjects/${subject.id}`).set(bearer(clerk))).status).toBe(200);
    expect((await request(t.app).get(`/v1/subjects/${subject.id}`).set(bearer(clinician))).status).toBe(200);
    expect((await request(t.app).get('/v1/subjects/not-a-uuid').set(bearer(clerk))).status).toBe(400);
    const text = await scrape();
    expect(sample(text, 'tiergate_http_requests_total', { route: '/v1/subjects/:id', method: 'GET', status: '200' })).toBe(2);
    expect(sample(text, 'tiergate_http_requests_total', { route: '/v1/subjects/:id', method: 'GET', status: '400' })).toBe(1);
    expect(sample(text, 'tiergate_http_request_duration_seconds_count', { route: '/v1/subjects/:id', status: '200' })).toBe(2);
    expect(sample(text, 'tiergate_http_request_duration_seconds_bucket', { route: '/v1/subjects/:id', status: '200', le: '+Inf' })).toBe(2);
  });

  it('counts decisions by tier, basis rule and deny reason', async () => {
    expect((await request(t.app).get(`/v1/subjects?name=Metricperson&dob=1971-03-04`).set(bearer(clerk))).status).toBe(200);
    const denied = await request(t.app).post(`/v1/subjects/${subject.id}/entries`).set(bearer(clerk)).send({ kind: 'note', tier: 'full', summary: 'x' });
    expect(denied.status).toBe(403);
    const text = await scrape();
    expect(
      sample(text, 'tiergate_access_decisions_total', { decision: 'allow', action: 'subject.read', tier: 'basic', basis: 'partner-read' }),
    ).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'tiergate_access_decisions_total', { decision: 'allow', action: 'subject.search', tier: 'basic' })).toBe(1);
    expect(sample(text, 'tiergate_access_decisions_total', { decision: 'deny', action: 'entry.create', tier: 'none', reason: 'no-rule:create:Entry' })).toBe(1);
  });

  it('reports the seal queue, its oldest entry and the latest checkpoint, read when scraped', async () => {
    let text = await scrape();
    expect(sample(text, 'tiergate_seal_queue_length')).toBeGreaterThan(0);
    expect(sample(text, 'tiergate_seal_queue_oldest_age_seconds')).toBeGreaterThanOrEqual(0);
    expect(sample(text, 'tiergate_checkpoint_age_seconds')).toBeNaN(); // none signed yet
    await sealAndCheckpoint(t.deps.db, t.deps.keys);
    text = await scrape();
    expect(sample(text, 'tiergate_seal_queue_length')).toBe(0);
    expect(sample(text, 'tiergate_seal_queue_oldest_age_seconds')).toBe(0);
    expect(sample(text, 'tiergate_checkpoint_age_seconds')).toBeGreaterThanOrEqual(0);
    expect(sample(text, 'tiergate_checkpoint_age_seconds')).toBeLessThan(60);
  });

  it('counts access-log write failures (each request fails closed)', async () => {
    const before = sample(await scrape(), 'tiergate_access_log_write_failures_total') ?? 0;
    expect(before).toBe(0);
    await database.admin('CREATE TRIGGER fault_block_log BEFORE INSERT ON access_log FOR EACH ROW EXECUTE FUNCTION tiergate_reject_change()');
    try {
      expect((await request(t.app).get(`/v1/subjects/${subject.id}`).set(bearer(clerk))).status).toBe(503);
    } finally {
      await database.admin('DROP TRIGGER IF EXISTS fault_block_log ON access_log');
    }
    expect(sample(await scrape(), 'tiergate_access_log_write_failures_total')).toBeGreaterThanOrEqual(1);
  });

  it.runIf(process.env.TEST_DRIVER === 'pg')('reports the pool: connections in use, idle and waiting', async () => {
    const text = await scrape();
    expect(sample(text, 'tiergate_db_pool_connections_in_use', { pool: 'primary' })).toBeGreaterThanOrEqual(0);
    expect(sample(text, 'tiergate_db_pool_connections_idle', { pool: 'primary' })).toBeGreaterThanOrEqual(0);
    expect(sample(text, 'tiergate_db_pool_waiting', { pool: 'primary' })).toBe(0);
  });

  it('labels carry no user name, person id, name, date of birth or other id', async () => {
    const text = await scrape();
    for (const leak of [subject.id, clerk.username, clinician.username, clerk.userId, 'Metricperson', '1971-03-04', 'not-a-uuid', 'metro-police']) {
      expect(text).not.toContain(leak);
    }
    const values = [...text.matchAll(/(\w+)="([^"]*)"/g)].map(([, k, v]) => [k!, v!] as const);
    expect(values.length).toBeGreaterThan(0);
    const allowedKeys = new Set([
      'route',
      'method',
      'status',
      'le',
      'decision',
      'action',
      'tier',
      'basis',
      'reason',
      'pool',
      'version',
      'major',
      'minor',
      'patch',
      'type',
      'space',
      'kind',
      'quantile',
    ]);
    for (const [key, value] of values) {
      expect(allowedKeys, key).toContain(key);
      expect(value).not.toMatch(/[0-9a-f]{8}-[0-9a-f]{4}-/i);
      expect(value).not.toContain('@');
    }
  });
});
