import type request from 'supertest';
import { expect } from 'vitest';
import type { TestDatabase } from './db.js';

/** The response is an RFC 9457 problem with this status. */
export function expectProblem(res: request.Response, status: number): void {
  expect(res.status, res.text).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
}

/** None of the markers appears anywhere in the response, raw text or parsed body. */
export function expectNoMarkers(res: request.Response, markers: string[]): void {
  const text = res.text + JSON.stringify(res.body ?? null);
  for (const m of markers) expect(text).not.toContain(m);
}

/** The access-log entries a request wrote, in order, read past the gateway as the superuser. */
export async function logOf(database: TestDatabase, res: { headers: Record<string, string> }): Promise<Record<string, unknown>[]> {
  return (await database.admin('SELECT * FROM access_log WHERE request_id = $1 ORDER BY seq', [res.headers['x-request-id']])).rows;
}
