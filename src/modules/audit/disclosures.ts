import { Router, type Request, type RequestHandler } from 'express';
import { z } from 'zod';
import type { AppDeps } from '../../deps.js';
import type { AuditReads } from '../../audit/audit-reads.js';
import type { DisclosurePolicy } from '../../authz/policy.js';
import { AUDIT_ACTIONS as A } from '../../audit/vocabulary.js';
import { eq } from 'drizzle-orm';
import { setFreshnessHeaders } from '../../audit/audit-reads.js';
import type { Executor } from '../../db/client.js';
import { subjects } from '../../db/schema/index.js';
import { NotFound } from '../../errors/problems.js';
import { idParams, isoDateTime, validate } from '../../http/validate.js';
import { accountDisclosures } from './accounting.js';
import { accountingPeriod, DISCLOSURE_FORMATS, renderAccounting } from './accounting-formats.js';

export const disclosuresQuery = z.strictObject({
  from: isoDateTime.optional(),
  to: isoDateTime.optional(),
  format: z.enum(DISCLOSURE_FORMATS).default('json'),
});

/** Checks the period before anything is read (400 when it reaches back too far or is empty). */
const checkPeriod: RequestHandler = (_req, res, next) => {
  const q = res.locals.query as z.infer<typeof disclosuresQuery>;
  try {
    res.locals.period = accountingPeriod(q.from, q.to);
    next();
  } catch (err) {
    next(err);
  }
};

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

/** GET /v1/audit/subjects/:id/disclosures: one person's accounting of disclosures (JSON, CSV, FHIR). */
export function disclosuresRouter({ pdp, auditReads }: Pick<AppDeps, 'pdp' | 'auditReads'>): Router {
  const policy = pdp.policy.disclosures;
  const router = Router();

  router.get(
    '/subjects/:id/disclosures',
    pdp.authorize('read', 'AuditEvent', A.auditDisclosures),
    validate({ params: idParams, query: disclosuresQuery }),
    checkPeriod,
    async (req, res) => {
      const subjectId: string = res.locals.params.id;
      const { format } = res.locals.query as z.infer<typeof disclosuresQuery>;
      const { from, to } = res.locals.period as { from: Date; to: Date };
      // The accounting is itself an access about the person: logged, with ids and counts only.
      const { result: disclosures, freshness } = await disclosuresOf(auditReads, req, policy, subjectId, { from, to }, format);
      setFreshnessHeaders(res, freshness);
      const { contentType, body } = renderAccounting(format, subjectId, { from, to }, disclosures, policy.purposeOfUse, { freshness });
      if (format === 'csv') res.attachment(`disclosures-${subjectId}.csv`);
      res.type(contentType).send(body);
    },
  );

  return router;
}
