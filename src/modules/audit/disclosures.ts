import { Router, type RequestHandler } from 'express';
import { z } from 'zod';
import type { AppDeps } from '../../app.js';
import type { AuditScope } from '../../audit/audited.js';
import type { DisclosurePolicy } from '../../authz/policy.js';
import { AUDIT_ACTIONS as A } from '../../audit/vocabulary.js';
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

/** The accounting's work under the audited runner; the log keeps ids and counts only. */
export async function disclosuresOf(
  { tx, note }: AuditScope,
  policy: DisclosurePolicy,
  subjectId: string,
  { from, to }: { from: Date; to: Date },
  format: string,
) {
  note({ subjectId, basis: [{ rule: 'audit' }], detail: { from, to, format } });
  const list = await accountDisclosures(tx, policy, subjectId, from, to);
  if (!list) throw new NotFound('subject');
  note({ detail: { from, to, format, returned: list.length } });
  return list;
}

/** GET /v1/audit/subjects/:id/disclosures: one person's accounting of disclosures (JSON, CSV, FHIR). */
export function disclosuresRouter({ pdp, runner }: Pick<AppDeps, 'pdp' | 'runner'>): Router {
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
      const disclosures = await runner.run(req, A.auditDisclosures, (scope) => disclosuresOf(scope, policy, subjectId, { from, to }, format));
      const { contentType, body } = renderAccounting(format, subjectId, { from, to }, disclosures, policy.purposeOfUse);
      if (format === 'csv') res.attachment(`disclosures-${subjectId}.csv`);
      res.type(contentType).send(body);
    },
  );

  return router;
}
