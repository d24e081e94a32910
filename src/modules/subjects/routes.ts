import { Router, type RequestHandler } from 'express';
import { HttpProblem } from '../../errors/problems.js';
import type { AppDeps } from '../../deps.js';
import { AUDIT_ACTIONS as A } from '../../audit/vocabulary.js';
import { idParams, uuid, validate } from '../../http/validate.js';
import { SubjectService, type HeldRecordContext } from './service.js';
import { readPrincipalAndRecordContext } from './record-context.js';
import { principalStep } from '../../auth/bearer-strategy.js';
import { resolvePrincipal } from '../../auth/principals.js';
import {
  addIdentifierBody,
  createEntryBody,
  createRiskFlagBody,
  createSubjectBody,
  matchBody,
  searchBody,
  searchRequestQuery,
  type SearchTerms,
} from './schemas.js';
import { type GradedPerson } from './service.js';

// What each person resource answers to, for the Allow header of a refused HEAD.
const ALLOWED: Record<string, string> = {
  '': 'GET, POST',
  search: 'POST',
  match: 'POST',
  id: 'GET',
  identifiers: 'POST',
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
  const one = segments[0] === 'search' || segments[0] === 'match' ? segments[0] : 'id';
  const allow = ALLOWED[segments.length === 0 ? '' : segments.length === 1 ? one : (segments[1] ?? '')] ?? 'GET';
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
    res.json(await runner.read(req, A.subjectRead, (scope) => service.read(scope, req.user!, res.locals.params.id, res.locals.recordContext)));
  });
  return router;
}

/**
 * The refusal of a creation that probably duplicates someone: 409 `possible-duplicate` with the
 * candidates (already logged with the creation's entry, which names them).
 */
export function possibleDuplicate(candidates: GradedPerson[]): HttpProblem {
  return new HttpProblem(
    409,
    'Possible Duplicate',
    'This person probably exists already. Check the candidates; if the person is none of them, send notDuplicateOf with every certain and probable candidate and a reason.',
    { candidates },
  );
}

export function subjectsRouter({ pdp, runner }: AppDeps): Router {
  const service = new SubjectService(pdp);
  const router = Router();

  router.use(refuseHead);

  // Search: by name and date of birth, or by one identifier; in the query string, or in a POST
  // body for callers that keep person data out of URLs. Results best first, each with its grade.
  const search: RequestHandler = async (req, res) => {
    const terms = (req.method === 'GET' ? res.locals.query : req.body) as SearchTerms;
    res.json(await runner.read(req, A.subjectSearch, (scope) => service.search(scope, req.user!, terms)));
  };
  router.get('/', pdp.authorize('search', 'Subject', A.subjectSearch), validate({ query: searchRequestQuery }), search);
  router.post('/search', pdp.authorize('search', 'Subject', A.subjectSearch), validate({ body: searchBody }), search);

  router.post('/match', pdp.authorize('create', 'Subject', A.subjectMatch), validate({ body: matchBody }), async (req, res) => {
    res.json(await runner.read(req, A.subjectMatch, (scope) => service.match(scope, req.user!, req.body)));
  });

  router.post('/', pdp.authorize('create', 'Subject', A.subjectCreate), validate({ body: createSubjectBody }), async (req, res) => {
    const outcome = await runner.run(req, A.subjectCreate, (scope) => service.create(scope, req.user!, req.body));
    if ('duplicate' in outcome) throw possibleDuplicate(outcome.duplicate);
    res.status(201).json(outcome.created);
  });

  router.get('/:id/risk-flags', pdp.authorize('read', 'Subject', A.riskFlagRead), validate({ params: idParams }), async (req, res) => {
    res.json(await runner.read(req, A.riskFlagRead, (scope) => service.riskFlags(scope, res.locals.params.id)));
  });

  router.post(
    '/:id/risk-flags',
    pdp.authorize('create', 'RiskFlag', A.riskFlagCreate),
    validate({ params: idParams, body: createRiskFlagBody }),
    async (req, res) => {
      res.status(201).json(await runner.run(req, A.riskFlagCreate, (scope) => service.addRiskFlag(scope, req.user!, res.locals.params.id, req.body)));
    },
  );

  router.post(
    '/:id/identifiers',
    pdp.authorize('create', 'Identifier', A.identifierCreate),
    validate({ params: idParams, body: addIdentifierBody }),
    async (req, res) => {
      const added = await runner.run(req, A.identifierCreate, (scope) => service.addIdentifier(scope, req.user!, res.locals.params.id, req.body));
      res.status(added.created ? 201 : 200).json(added.identifier);
    },
  );

  router.post('/:id/entries', pdp.authorize('create', 'Entry', A.entryCreate), validate({ params: idParams, body: createEntryBody }), async (req, res) => {
    res.status(201).json(await runner.run(req, A.entryCreate, (scope) => service.addEntry(scope, req.user!, res.locals.params.id, req.body)));
  });

  return router;
}
