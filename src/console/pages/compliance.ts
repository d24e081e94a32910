import { Router, type Request, type Response } from 'express';
import type { z } from 'zod';
import { exportLog } from '../../audit/export.js';
import { latestCheckpoint } from '../../audit/seal.js';
import { verifyLog } from '../../audit/verify.js';
import { claimVerifyJob, runningVerifyJob, runVerifyJob, verifyJobOf, type VerifyJob } from '../../audit/verify-jobs.js';
import { AUDIT_ACTIONS, AUDIT_ACTIONS as A, DECISIONS } from '../../audit/vocabulary.js';
import { HttpProblem, NotFound } from '../../errors/problems.js';
import { accessesPerDay } from '../../modules/audit/activity.js';
import { decisionBody } from '../../modules/approvals/schemas.js';
import type { ApprovalKind } from '../../modules/approvals/kinds.js';
import { APPROVAL_DECISIONS, decideApproval, listApprovals } from '../../modules/approvals/service.js';
import { accountingPeriod, renderAccounting } from '../../modules/audit/accounting-formats.js';
import { recordReview, reviewQueue } from '../../modules/audit/break-glass-review.js';
import { toCsv } from '../../modules/audit/csv.js';
import { disclosuresOf } from '../../modules/audit/disclosures.js';
import { CSV_COLUMNS, csvRow, searchEvents } from '../../modules/audit/events.js';
import { eventsQuery, MAX_CSV, REVIEW_DECISIONS, reviewBody } from '../../modules/audit/schemas.js';
import { activityChart } from '../chart.js';
import { done, requireUser, type ConsoleContext } from '../context.js';
import { fieldErrors, str } from '../render.js';
import { humanize, stamp, tierName } from '../words.js';
import { idParam } from './people.js';

const FILTERS = ['subject', 'actor', 'agency', 'action', 'decision', 'from', 'to', 'limit'] as const;

// Verifying the whole log reads every entry's sealed fields: the same check by type as the log itself.
const VERIFY = ['read', 'AuditEvent'] as const;

/** The compliance officer's pages: access log, accounting, break-glass review, integrity, activity, approvals. */
export function compliancePages({ deps, render }: ConsoleContext): Router {
  const { pdp, runner, db } = deps;
  const router = Router();
  const guard = (action: (typeof AUDIT_ACTIONS)[keyof typeof AUDIT_ACTIONS]) => [requireUser, pdp.authorize('read', 'AuditEvent', action)];

  /** The access-log form's fields as the API's query (dates as whole UTC days). */
  const logQuery = (req: Request, format: 'json' | 'csv') => {
    const values = Object.fromEntries(FILTERS.map((k) => [k, str(req.query, k)])) as Record<(typeof FILTERS)[number], string>;
    const input = {
      ...Object.fromEntries(Object.entries(values).filter(([, v]) => v)),
      ...(values.from ? { from: `${values.from}T00:00:00Z` } : {}),
      ...(values.to ? { to: `${values.to}T23:59:59.999Z` } : {}),
      ...(str(req.query, 'cursor') ? { cursor: str(req.query, 'cursor') } : {}),
      format,
    };
    return { values, parsed: eventsQuery.safeParse(input) };
  };

  router.get('/compliance/log', ...guard(A.auditRead), async (req, res) => {
    const { values, parsed } = logQuery(req, 'json');
    const base = { title: 'Access log', values, actions: Object.values(AUDIT_ACTIONS), decisions: DECISIONS };
    if (!parsed.success) return render(req, res, 'compliance/log', { ...base, errors: fieldErrors(parsed.error) }, 400);
    const q = parsed.data as z.infer<typeof eventsQuery>;
    const { result: rows } = await searchEvents(deps.auditReads, req, q, q.limit);
    const next = rows.length > q.limit ? String(rows[q.limit - 1]!.seq) : null;
    const filters = new URLSearchParams(Object.entries(values).filter(([, v]) => v));
    const nextHref = next ? `/compliance/log?${new URLSearchParams([...filters, ['cursor', next]]).toString()}` : undefined;
    render(req, res, 'compliance/log', {
      ...base,
      events: rows.slice(0, q.limit),
      nextHref,
      csvHref: `/compliance/log.csv?${filters.toString()}`,
      firstHref: req.query.cursor ? `/compliance/log?${filters.toString()}` : undefined,
      w: { stamp, humanize },
    });
  });

  router.get('/compliance/log.csv', ...guard(A.auditRead), async (req, res) => {
    const { parsed } = logQuery(req, 'csv');
    // The CSV takes every match up to MAX_CSV, whatever the page size on screen.
    if (!parsed.success) throw new HttpProblem(400, 'Bad Request', 'The filters are not valid.');
    const { result: rows } = await searchEvents(deps.auditReads, req, parsed.data, MAX_CSV);
    res
      .type('text/csv')
      .attachment('access-log.csv')
      .send(toCsv(CSV_COLUMNS, rows.slice(0, MAX_CSV).map(csvRow)));
  });

  // A person's accounting of disclosures: on screen, CSV and FHIR, from the same function as the API.
  router.get('/compliance/people/:id/accounting', ...guard(A.auditDisclosures), async (req, res) => {
    const id = idParam(req);
    const format = str(req.query, 'format') === 'csv' ? 'csv' : str(req.query, 'format') === 'fhir' ? 'fhir' : 'json';
    const period = accountingPeriod(undefined, undefined);
    const { result: list } = await disclosuresOf(deps.auditReads, req, pdp.policy.disclosures, id, period, format);
    if (format !== 'json') {
      const { contentType, body } = renderAccounting(format, id, period, list, pdp.policy.disclosures.purposeOfUse);
      res.attachment(`disclosures-${id}.${format === 'csv' ? 'csv' : 'fhir.json'}`);
      return res.type(contentType).send(body);
    }
    render(req, res, 'compliance/accounting', { title: 'Accounting of disclosures', id, period, disclosures: list, w: { stamp, humanize, tierName } });
  });

  router.get('/compliance/accounting', ...guard(A.auditDisclosures), (req, res) => {
    const subject = str(req.query, 'subject');
    if (subject) return res.redirect(303, `/compliance/people/${encodeURIComponent(subject)}/accounting`);
    render(req, res, 'compliance/accounting-find', { title: 'Accounting of disclosures' });
  });

  const queuePage = async (req: Request, res: Response, extra: Record<string, unknown> = {}, status = 200) => {
    const which = (['awaiting', 'reviewed', 'all'] as const).find((s) => s === str(req.query, 'status')) ?? 'awaiting';
    const queue = await runner.run(req, A.auditBreakGlassRead, (scope) => reviewQueue(scope, which, 50));
    const now = new Date();
    render(
      req,
      res,
      'compliance/break-glass',
      { title: 'Break-glass review', which, queue, now, decisions: REVIEW_DECISIONS, w: { stamp, humanize }, ...extra },
      status,
    );
  };
  router.get('/compliance/break-glass', ...guard(A.auditBreakGlassRead), (req, res) => queuePage(req, res));
  router.post('/compliance/break-glass/:id/review', ...guard(A.breakGlassReview), async (req, res) => {
    const grantId = idParam(req);
    // Each grant's form names its fields after the grant, so labels and errors stay unique on the page.
    const values = { decision: str(req.body, `decision-${grantId}`), note: str(req.body, `note-${grantId}`) };
    const parsed = reviewBody.safeParse({ decision: values.decision, ...(values.note ? { note: values.note } : {}) });
    if (!parsed.success) {
      const errors = fieldErrors(parsed.error);
      return queuePage(
        req,
        res,
        {
          reviewing: grantId,
          values,
          errors: Object.fromEntries(Object.entries(errors).map(([k, v]) => [`${k}-${grantId}`, k === 'decision' ? 'Choose a decision' : v])),
        },
        400,
      );
    }
    await runner.run(req, A.breakGlassReview, (scope) => recordReview(scope, req.user!, grantId, parsed.data.decision, parsed.data.note));
    await done(req, res, '/compliance/break-glass', `Review recorded: ${humanize(parsed.data.decision)}.`);
  });

  // Operators' changes to partner accounts and clients wait here for a compliance officer (two-role rule).
  const approvalsPage = async (req: Request, res: Response, extra: Record<string, unknown> = {}, status = 200) => {
    const which = (['pending', 'decided', 'all'] as const).find((s) => s === str(req.query, 'status')) ?? 'pending';
    const list = await runner.run(req, A.auditApprovalsRead, (scope) => listApprovals(scope, which, 50));
    render(
      req,
      res,
      'compliance/approvals',
      {
        title: 'Approvals',
        which,
        approvals: list.map((a) => ({ ...a, what: approvalWords(a) })),
        decisions: APPROVAL_DECISIONS,
        w: { stamp, humanize },
        ...extra,
      },
      status,
    );
  };
  router.get('/compliance/approvals', ...guard(A.auditApprovalsRead), (req, res) => approvalsPage(req, res));
  router.post('/compliance/approvals/:id/decision', ...guard(A.approvalDecide), async (req, res) => {
    const approvalId = idParam(req);
    // Each request's form names its fields after the request, so labels and errors stay unique on the page.
    const values = { decision: str(req.body, `decision-${approvalId}`), note: str(req.body, `note-${approvalId}`) };
    const parsed = decisionBody.safeParse({ decision: values.decision, ...(values.note ? { note: values.note } : {}) });
    if (!parsed.success) {
      const errors = fieldErrors(parsed.error);
      return approvalsPage(
        req,
        res,
        {
          deciding: approvalId,
          values,
          errors: Object.fromEntries(Object.entries(errors).map(([k, v]) => [`${k}-${approvalId}`, k === 'decision' ? 'Choose approve or reject' : v])),
        },
        400,
      );
    }
    const decided = await runner.run(req, A.approvalDecide, (scope) =>
      decideApproval(scope, pdp, req.user!, approvalId, parsed.data.decision, parsed.data.note),
    );
    const what = approvalWords(decided);
    // The approval code is the second half of an invitation: shown once, on the page that made it, never stored for later.
    if ('approvalCode' in decided && decided.approvalCode)
      return approvalsPage(req, res, { issued: { what, user: decided.user?.user, code: decided.approvalCode } });
    if ('enrolmentCode' in decided && decided.enrolmentCode)
      return approvalsPage(req, res, { issued: { kind: 'enrolment', what, user: decided.user?.user, code: decided.enrolmentCode } });
    await done(req, res, '/compliance/approvals', `${parsed.data.decision === 'approve' ? 'Approved' : 'Rejected'}: ${what}.`);
  });

  // Checkpoints are signed on the policy's schedule (src/audit/seal.ts); this page only reads the latest.
  const integrityPage = async (req: Request, res: Response, running?: VerifyJob, status = 200) => {
    const cp = await runner.run(req, A.checkpointRead, async ({ tx, note }) => {
      const latest = await latestCheckpoint(tx);
      note({ detail: { treeSize: latest?.treeSize ?? 0 } });
      return latest;
    });
    const ageSeconds = cp ? Math.round((Date.now() - new Date(cp.issuedAt).getTime()) / 1000) : undefined;
    // Partners read checkpoints too; only a role the decision point lets verify is offered the button.
    const canVerify = pdp.allows(req.user, ...VERIFY);
    running ??= canVerify ? await runningVerifyJob(db) : undefined;
    render(req, res, 'compliance/integrity', { title: 'Log integrity', cp, ageSeconds, w: { stamp }, canVerify, running }, status);
  };
  router.get('/compliance/integrity', requireUser, pdp.authorize('read', 'Checkpoint', A.checkpointRead), (req, res) => integrityPage(req, res));

  /**
   * Verifies the whole log in the background, in this worker (export, then the offline verifier);
   * the job lives in the database, so its page answers on every worker. One at a time per
   * deployment: while one runs, the page names it and links to its progress instead.
   */
  router.post('/compliance/integrity/verify', requireUser, pdp.authorize(...VERIFY, A.auditRead), async (req, res) => {
    const claim = await claimVerifyJob(db, req.user!.userId);
    if ('running' in claim) return integrityPage(req, res, claim.running, 409);
    const { id } = claim.started;
    void runVerifyJob(db, id, {
      read: () =>
        runner.run(req, A.auditRead, async ({ tx, note }) => {
          const exported = await exportLog(tx);
          note({ basis: [{ rule: 'audit' }], detail: { verify: true, job: id, leaves: exported.leaves?.length } });
          return exported;
        }),
      check: (data) => verifyLog(data),
    });
    res.redirect(303, `/compliance/integrity/verify/${id}`);
  });

  // Any role that may verify follows any job: a job names who started it and no person.
  const jobOf = async (req: Request) => {
    const job = await verifyJobOf(db, idParam(req, 'job'));
    if (!job) throw new NotFound('verification');
    return job;
  };
  router.get('/compliance/integrity/verify/:job.json', requireUser, pdp.authorize(...VERIFY, A.auditRead), async (req, res) => {
    const job = await jobOf(req);
    res.json({ phase: job.phase, entries: job.entries, ok: job.report?.ok ?? null });
  });
  router.get('/compliance/integrity/verify/:job', requireUser, pdp.authorize(...VERIFY, A.auditRead), async (req, res) => {
    const job = await jobOf(req);
    render(req, res, 'compliance/verify', { title: 'Verifying the log', job, jobId: job.id, w: { stamp } });
  });

  router.get('/compliance/activity', ...guard(A.auditRead), async (req, res) => {
    const rows = await runner.run(req, A.auditRead, (scope) => accessesPerDay(scope, 30));
    const days = Array.from({ length: 30 }, (_, i) => new Date(Date.now() - (29 - i) * 86_400_000).toISOString().slice(0, 10));
    const chart = activityChart(rows, days);
    const agencies = chart.agencies.map((a) => a.name);
    const table = days
      .map((d) => ({
        day: d,
        byAgency: agencies.map((a) => rows.filter((r) => r.day === d && r.agency === a && r.decision === 'allow').reduce((s, r) => s + r.n, 0)),
        denied: rows.filter((r) => r.day === d && r.decision === 'deny').reduce((s, r) => s + r.n, 0),
      }))
      .filter((r) => r.denied || r.byAgency.some(Boolean));
    render(req, res, 'compliance/activity', { title: 'Activity', chart, agencies, table });
  });

  return router;
}

type ApprovalWordsInput = { kind: string; agency: string | null; user?: { user: string | null }; client?: string | null; change: unknown };
const roleWords = (r?: string) => (r ?? 'an unknown role').replaceAll('_', ' ');

/** Each kind of request in words, exhaustive over the kinds: "the invitation of medic@county-ems into county-ems as social worker". */
const APPROVAL_WORDS: Record<
  ApprovalKind,
  (a: ApprovalWordsInput, who: string, change: { role?: string; previousRole?: string; usernames?: string[] }) => string
> = {
  'user.invite': (a, who, c) => `the invitation of ${who} into ${a.agency} as ${roleWords(c.role)}`,
  'user.role': (a, who, c) => `the role of ${who} (${a.agency}) from ${roleWords(c.previousRole)} to ${roleWords(c.role)}`,
  'user.mfa-reset': (a, who) => `the reset of the second factor of ${who} (${a.agency})`,
  'user.disable': (a, who) => `disabling ${who} (${a.agency}), done already`,
  'client.register': (a, _who, c) => `the registration of client ${a.client ?? ''} in ${a.agency} as ${roleWords(c.role)}`,
  'client.users': (a, _who, c) => `the people client ${a.client ?? ''} (${a.agency}) may act for: ${c.usernames?.length ? c.usernames.join(', ') : 'no one'}`,
  'client.disable': (a) => `disabling client ${a.client ?? ''} (${a.agency}), done already`,
  'agency.disable': (a) => `disabling the agency ${a.agency}, done already`,
};

function approvalWords(a: ApprovalWordsInput): string {
  const words = APPROVAL_WORDS[a.kind as ApprovalKind] as (typeof APPROVAL_WORDS)[ApprovalKind] | undefined;
  return words ? words(a, a.user?.user ?? 'a user', (a.change ?? {}) as never) : `a ${humanize(a.kind)} request in ${a.agency ?? 'the gateway'}`;
}
