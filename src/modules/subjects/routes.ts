import { Router, type RequestHandler } from 'express';
import { HttpProblem } from '../../errors/problems.js';
import type { AppDeps } from '../../app.js';
import { AUDIT_ACTIONS as A } from '../../audit/vocabulary.js';
import { idParams, uuid, validate } from '../../http/validate.js';
import { createEntryBody, createRiskFlagBody, createSubjectBody, searchQuery } from './schemas.js';
import { SubjectService, type HeldRecordContext } from './service.js';
import { readPrincipalAndRecordContext } from './record-context.js';
import { principalStep } from '../../auth/bearer-strategy.js';
import { resolvePrincipal } from '../../auth/principals.js';

// What each person resource answers to, for the Allow header of a refused HEAD.
const ALLOWED: Record<string, string> = {
  '': 'GET, POST',
  id: 'GET',
  'risk-flags': 'GET, POST',
  consents: 'GET, POST',
  entries: 'POST',
  'break-glass': 'POST',
};

/**
 * HEAD on a person route is refused (405) before anything is read or logged. Answered like GET
 * it would disclose (whether the person exists, the size of the granted record) without the
 * body that the log entry describes; a partner system that wants to know must GET, and be logged.
 */
const refuseHead: RequestHandler = (req, res, next) => {
  if (req.method !== 'HEAD') return next();
  const segments = req.path.split('/').filter(Boolean);
  const allow = ALLOWED[segments.length === 0 ? '' : segments.length === 1 ? 'id' : (segments[1] ?? '')] ?? 'GET';
  res.set('Allow', allow);
  next(new HttpProblem(405, 'Method Not Allowed', 'HEAD is not answered on person data; use GET, which is logged.'));
};

declare global {
  namespace Express {
    interface Locals {
      /** The record's policy context, read with the principal by the record read's principal step. */
      recordContext?: HeldRecordContext;
    }
  }
}

/**
 * The record read's principal step, in place of `requirePrincipal`: the principal, checked as
 * every route's is (same refusals, same log entries), and the person's policy context with it,
 * in one statement (`readPrincipalAndRecordContext`, one `now`); the context waits in
 * `res.locals` for the handler. An id that is not a UUID reads the principal alone: validation
 * refuses the request after the role check, as on every person route.
 */
const recordReadPrincipal = ({ db, runner }: Pick<AppDeps, 'db' | 'runner'>) =>
  principalStep(runner, async (claims, req, res) => {
    const id = uuid.safeParse(req.params.id);
    if (!id.success) return resolvePrincipal(db, claims);
    const { principal, record } = await readPrincipalAndRecordContext(db, claims, id.data, new Date());
    res.locals.recordContext = { subjectId: id.data, record };
    return principal;
  });

/**
 * `GET /v1/subjects/:id`, mounted before the principal step of the other routes, because it has
 * its own. HEAD (which a GET route would take) leaves this router before any route matches, for
 * the other person routes, which refuse it (405) as on every person route.
 */
export function subjectRecordRouter({ db, pdp, runner }: AppDeps): Router {
  const service = new SubjectService(pdp);
  const router = Router();
  router.use((req, _res, next) => next(req.method === 'HEAD' ? 'router' : undefined));
  router.get('/:id', recordReadPrincipal({ db, runner }), pdp.authorize('read', 'Subject', A.subjectRead), validate({ params: idParams }), async (req, res) => {
    res.json(await runner.once(req, A.subjectRead, (scope) => service.read(scope, req.user!, res.locals.params.id, res.locals.recordContext)));
  });
  return router;
}

export function subjectsRouter({ pdp, runner }: AppDeps): Router {
  const service = new SubjectService(pdp);
  const router = Router();

  router.use(refuseHead);

  router.get('/', pdp.authorize('search', 'Subject', A.subjectSearch), validate({ query: searchQuery }), async (req, res) => {
    const { name, dob } = res.locals.query;
    res.json(await runner.once(req, A.subjectSearch, (scope) => service.search(scope, name, dob)));
  });

  router.post('/', pdp.authorize('create', 'Subject', A.subjectCreate), validate({ body: createSubjectBody }), async (req, res) => {
    res.status(201).json(await runner.run(req, A.subjectCreate, (scope) => service.create(scope, req.user!, req.body)));
  });

  router.get('/:id/risk-flags', pdp.authorize('read', 'Subject', A.riskFlagRead), validate({ params: idParams }), async (req, res) => {
    res.json(await runner.once(req, A.riskFlagRead, (scope) => service.riskFlags(scope, res.locals.params.id)));
  });

  router.post(
    '/:id/risk-flags',
    pdp.authorize('create', 'RiskFlag', A.riskFlagCreate),
    validate({ params: idParams, body: createRiskFlagBody }),
    async (req, res) => {
      res.status(201).json(await runner.run(req, A.riskFlagCreate, (scope) => service.addRiskFlag(scope, req.user!, res.locals.params.id, req.body)));
    },
  );

  router.post('/:id/entries', pdp.authorize('create', 'Entry', A.entryCreate), validate({ params: idParams, body: createEntryBody }), async (req, res) => {
    res.status(201).json(await runner.run(req, A.entryCreate, (scope) => service.addEntry(scope, req.user!, res.locals.params.id, req.body)));
  });

  return router;
}
