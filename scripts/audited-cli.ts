// The command-line tools' counterpart of AuditedRunner: one action and its access-log entry in
// one transaction, request id `cli:<uuid>`, no actor, the operator's login name in the detail.
// A refusal (403/404) rolls the work back and is logged as a denial of its own.
import { randomUUID } from 'node:crypto';
import { appendAccessLog } from '../src/audit/append.js';
import type { AuditFacts, AuditScope } from '../src/audit/audited.js';
import type { AuditAction } from '../src/audit/vocabulary.js';
import type { Db } from '../src/db/client.js';
import { HttpProblem } from '../src/errors/problems.js';

export async function auditedCli<T>(db: Db, action: AuditAction, work: (scope: AuditScope) => Promise<T>): Promise<T> {
  const requestId = `cli:${randomUUID()}`;
  const facts: AuditFacts = {};
  const entry = () => ({ requestId, action, ...facts, detail: { ...facts.detail, operator: process.env.USER ?? 'cli' } });
  try {
    return await db.transaction(async (tx) => {
      const result = await work({ tx, note: (f) => Object.assign(facts, f) });
      await appendAccessLog(tx, { ...entry(), decision: 'allow' });
      return result;
    });
  } catch (err) {
    if (err instanceof HttpProblem && (err.status === 403 || err.status === 404)) {
      await appendAccessLog(db, { ...entry(), decision: 'deny', tier: null, reason: err.status === 404 ? 'not-found' : `status-${err.status}` });
    }
    throw err;
  }
}
