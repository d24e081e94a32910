import { Router, type RequestHandler } from 'express';
import { z } from 'zod';
import type { AppDeps } from '../../app.js';
import { AUDIT_ACTIONS as A } from '../../audit/vocabulary.js';
import { BadRequest, NotFound } from '../../errors/problems.js';
import { idParams, isoDateTime, validate } from '../../http/validate.js';
import { ACCOUNTING_YEARS, accountDisclosures, type Disclosure } from './accounting.js';
import { toCsv } from './csv.js';
import { disclosuresBundle } from './fhir.js';

const disclosuresQuery = z.strictObject({
  from: isoDateTime.optional(),
  to: isoDateTime.optional(),
  format: z.enum(['json', 'csv', 'fhir']).default('json'),
});

const yearsBefore = (d: Date, years: number) => {
  const x = new Date(d);
  x.setUTCFullYear(x.getUTCFullYear() - years);
  return x;
};

/**
 * The accounting period: `from` defaults to six years ago, `to` to now; `from` before `to`, and
 * no earlier than the start of the day six years ago (the rule's reach, with a day's slack for
 * a client that computed "six years ago" a moment before we did).
 */
const accountingPeriod: RequestHandler = (_req, res, next) => {
  const q = res.locals.query as z.infer<typeof disclosuresQuery>;
  const now = new Date();
  const earliest = yearsBefore(now, ACCOUNTING_YEARS);
  earliest.setUTCHours(0, 0, 0, 0);
  const from = q.from ? new Date(q.from) : yearsBefore(now, ACCOUNTING_YEARS);
  const to = q.to ? new Date(q.to) : now;
  if (from < earliest) return next(new BadRequest(`An accounting reaches back at most ${ACCOUNTING_YEARS} years (45 CFR 164.528(a)(3)); \`from\` is earlier.`));
  if (from >= to) return next(new BadRequest('`from` must be before `to`.'));
  res.locals.period = { from, to };
  next();
};

function present(d: Disclosure) {
  return {
    at: d.at,
    recipient: d.recipient,
    tier: d.tier,
    kinds: d.kinds,
    purpose: d.purpose,
    basis: d.basis,
    breakGlass: d.breakGlass,
    action: d.action,
    disclosedBy: d.disclosedBy,
    eventId: d.eventId,
  };
}

const CSV_COLUMNS = [
  'at',
  'recipient_user',
  'recipient_agency',
  'recipient_role',
  'action',
  'tier',
  'kinds',
  'purpose',
  'basis',
  'break_glass',
  'disclosed_by',
  'event_id',
];
const csvRow = (d: Disclosure) => [
  d.at,
  d.recipient.user,
  d.recipient.agency,
  d.recipient.role,
  d.action,
  d.tier,
  d.kinds.join(' '),
  d.purpose,
  d.basis,
  d.breakGlass,
  d.disclosedBy.join(' '),
  d.eventId,
];

/** GET /v1/audit/subjects/:id/disclosures: one person's accounting of disclosures (JSON, CSV, FHIR). */
export function disclosuresRouter({ pdp, runner }: Pick<AppDeps, 'pdp' | 'runner'>): Router {
  const policy = pdp.policy.disclosures;
  const router = Router();

  router.get(
    '/subjects/:id/disclosures',
    pdp.authorize('read', 'AuditEvent', A.auditDisclosures),
    validate({ params: idParams, query: disclosuresQuery }),
    accountingPeriod,
    async (req, res) => {
      const subjectId: string = res.locals.params.id;
      const { format } = res.locals.query as z.infer<typeof disclosuresQuery>;
      const { from, to } = res.locals.period as { from: Date; to: Date };
      // The accounting is itself an access about the person: logged, with ids and counts only.
      const disclosures = await runner.run(req, A.auditDisclosures, async ({ tx, note }) => {
        note({ subjectId, basis: [{ rule: 'audit' }], detail: { from, to, format } });
        const list = await accountDisclosures(tx, policy, subjectId, from, to);
        if (!list) throw new NotFound('subject');
        note({ detail: { from, to, format, returned: list.length } });
        return list;
      });
      if (format === 'csv') {
        res
          .type('text/csv')
          .attachment(`disclosures-${subjectId}.csv`)
          .send(toCsv(CSV_COLUMNS, disclosures.map(csvRow)));
        return;
      }
      if (format === 'fhir') {
        res.type('application/fhir+json').send(JSON.stringify(disclosuresBundle(subjectId, disclosures, policy.purposeOfUse)));
        return;
      }
      res.json({ subject: subjectId, from, to, disclosures: disclosures.map(present) });
    },
  );

  return router;
}
