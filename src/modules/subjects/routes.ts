import { Router, type RequestHandler } from 'express';
import { HttpProblem } from '../../errors/problems.js';
import type { AppDeps } from '../../deps.js';
import { AUDIT_ACTIONS as A } from '../../audit/vocabulary.js';
import { UUID_PATTERN } from '../../http/ids.js';
import { idParams, validate } from '../../http/validate.js';
import { createEntryBody, createRiskFlagBody, createSubjectBody, searchQuery } from './schemas.js';
import { SubjectService } from './service.js';
import { RECORD_CONTEXT_RIDER, type RiddenRecordContext } from './repository.js';
import { riddenWith, type RequestRider } from '../../auth/bearer-strategy.js';

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

const RECORD_PATH = new RegExp(`^/v1/subjects/(${UUID_PATTERN})/?(?:\\?|$)`, 'i');

/**
 * An API record read has its policy context read with its principal (one round trip fewer);
 * everything else about the request is as without it, and the read falls back to its own query.
 */
export const recordReadRider: RequestRider = {
  rider: RECORD_CONTEXT_RIDER,
  params: (req) => {
    const id = req.method === 'GET' ? RECORD_PATH.exec(req.originalUrl)?.[1] : undefined;
    return id ? [id, new Date().toISOString()] : undefined;
  },
};

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

  router.get('/:id', pdp.authorize('read', 'Subject', A.subjectRead), validate({ params: idParams }), async (req, res) => {
    const ridden = riddenWith<RiddenRecordContext>(req, RECORD_CONTEXT_RIDER);
    res.json(await runner.once(req, A.subjectRead, (scope) => service.read(scope, req.user!, res.locals.params.id, ridden)));
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
