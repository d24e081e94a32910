import type { Request } from 'express';
import type { AuditReads } from '../../audit/audit-reads.js';
import type { DisclosurePolicy } from '../../authz/policy.js';
import { AUDIT_ACTIONS as A } from '../../audit/vocabulary.js';
import { eq } from 'drizzle-orm';
import type { Executor } from '../../db/client.js';
import { subjects } from '../../db/schema/index.js';
import { NotFound } from '../../errors/problems.js';
import { accountDisclosures } from './accounting.js';

const subjectExists = async (tx: Executor, id: string) => (await tx.select({ id: subjects.id }).from(subjects).where(eq(subjects.id, id)).limit(1)).length > 0;

/**
 * One person's accounting, logged with ids and counts only; read from the audit replica when
 * there is one. The API route and the console share it.
 */
export function disclosuresOf(
  auditReads: AuditReads,
  req: Request,
  policy: DisclosurePolicy,
  subjectId: string,
  { from, to }: { from: Date; to: Date },
  format: string,
) {
  return auditReads.run(req, A.auditDisclosures, {
    facts: { subjectId, basis: [{ rule: 'audit' }], detail: { from, to, format } },
    precheck: async (tx) => {
      if (!(await subjectExists(tx, subjectId))) throw new NotFound('subject');
    },
    read: (db) => accountDisclosures(db, policy, subjectId, from, to),
    after: (list) => ({ detail: { returned: list.length } }),
  });
}
