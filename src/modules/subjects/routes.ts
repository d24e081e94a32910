import { Router, type RequestHandler } from 'express';
import { HttpProblem } from '../../errors/problems.js';
import type { AppDeps } from '../../app.js';
import { AUDIT_ACTIONS as A } from '../../audit/vocabulary.js';
import { idParams, validate } from '../../http/validate.js';
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
import { SubjectService, type GradedPerson } from './service.js';
import { blockParams, SEARCH_BLOCK_RIDER, searchBlockKey, searchBlockQuery, type RiddenSearchBlock } from './candidates.js';
import { defaultMatchingPolicy } from '../../matching/index.js';
import { RECORD_CONTEXT_RIDER, type RiddenRecordContext } from './repository.js';
import { riddenWith, type RequestRider } from '../../auth/bearer-strategy.js';

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

const RECORD_PATH = /^\/v1\/subjects\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\/?(?:\?|$)/i;

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

const SEARCH_PATH = /^\/v1\/subjects\/?(?:\?|$)|^\/v1\/subjects\/search\/?(?:\?|$)/;
const stringOf = (v: unknown) => (typeof v === 'string' ? v : undefined);

/**
 * An API search by name has its block read with its principal (one round trip fewer): the terms
 * as sent, before validation; the search uses the block only if it was read for the terms that
 * passed validation, and reads its own otherwise.
 */
export const searchBlockRider: RequestRider = {
  rider: SEARCH_BLOCK_RIDER,
  params: (req) => {
    if (!SEARCH_PATH.test(req.originalUrl) || (req.method !== 'GET' && req.method !== 'POST')) return undefined;
    const terms = (req.method === 'GET' ? req.query : req.body) as Record<string, unknown> | undefined;
    const [name, dob] = [stringOf(terms?.name), stringOf(terms?.dob)];
    if (!name || !dob || (req.method === 'POST') !== req.originalUrl.startsWith('/v1/subjects/search')) return undefined;
    return [searchBlockKey(name, dob), ...blockParams(searchBlockQuery(name, dob), defaultMatchingPolicy())];
  },
};

export function subjectsRouter({ pdp, runner }: AppDeps): Router {
  const service = new SubjectService(pdp);
  const router = Router();

  router.use(refuseHead);

  // Search: by name and date of birth, or by one identifier; in the query string, or in a POST
  // body for callers that keep person data out of URLs. Results best first, each with its grade.
  const search: RequestHandler = async (req, res) => {
    const terms = (req.method === 'GET' ? res.locals.query : req.body) as SearchTerms;
    const ridden = riddenWith<RiddenSearchBlock>(req, SEARCH_BLOCK_RIDER);
    res.json(await runner.once(req, A.subjectSearch, (scope) => service.search(scope, req.user!, terms, ridden)));
  };
  router.get('/', pdp.authorize('search', 'Subject', A.subjectSearch), validate({ query: searchRequestQuery }), search);
  router.post('/search', pdp.authorize('search', 'Subject', A.subjectSearch), validate({ body: searchBody }), search);

  router.post('/match', pdp.authorize('create', 'Subject', A.subjectMatch), validate({ body: matchBody }), async (req, res) => {
    res.json(await runner.once(req, A.subjectMatch, (scope) => service.match(scope, req.user!, req.body)));
  });

  router.post('/', pdp.authorize('create', 'Subject', A.subjectCreate), validate({ body: createSubjectBody }), async (req, res) => {
    const outcome = await runner.run(req, A.subjectCreate, (scope) => service.create(scope, req.user!, req.body));
    if ('duplicate' in outcome) throw possibleDuplicate(outcome.duplicate);
    res.status(201).json(outcome.created);
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
