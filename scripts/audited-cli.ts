// The command-line tools' counterpart of AuditedRunner: one action and its access-log entry in
// one transaction, request id `cli:<uuid>`, no actor, the operator's login name in the detail.
// A refusal rolls the work back and is logged as a denial of its own, as the runner does.
import { randomUUID } from 'node:crypto';
import { appendAccessLog } from '../src/audit/append.js';
import { Disclosure, loggedDenial, transactionScope, type AuditFacts, type AuditScope } from '../src/audit/audited.js';
import type { AuditAction } from '../src/audit/vocabulary.js';
import type { Db } from '../src/db/client.js';

/** Who ran the command, for the log entry's detail. */
export const operatorName = (): string => process.env.USER ?? 'cli';

export async function auditedCli<T>(db: Db, action: AuditAction, work: (scope: AuditScope) => Promise<T>): Promise<T> {
  const requestId = `cli:${randomUUID()}`;
  const facts: AuditFacts = {};
  const entry = () => ({ requestId, action, ...facts, detail: { ...facts.detail, operator: operatorName() } });
  try {
    return await db.transaction(async (tx) => {
      const result = await work(transactionScope(tx, (f) => Object.assign(facts, f)));
      // The commands administer; none discloses person data, so none may end in a disclosure.
      if (result instanceof Disclosure) throw new Error('a command-line tool does not disclose person data');
      await appendAccessLog(tx, { ...entry(), decision: 'allow' });
      return result;
    });
  } catch (err) {
    const reason = loggedDenial(err);
    if (reason) await appendAccessLog(db, { ...entry(), decision: 'deny', tier: null, reason });
    throw err;
  }
}
