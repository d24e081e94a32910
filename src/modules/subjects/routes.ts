import type { RequestHandler } from 'express';
import { HttpProblem } from '../../errors/problems.js';
import type { AppDeps } from '../../deps.js';
import { AUDIT_ACTIONS as A } from '../../audit/vocabulary.js';
import { principalStep } from '../../auth/bearer-strategy.js';
import { resolvePrincipal } from '../../auth/principals.js';
import { defineRoute, type RouteGroup } from '../../http/route.js';
import { idParams, uuid } from '../../http/validate.js';
import { SubjectService, type GradedPerson, type HeldRecordContext } from './service.js';
import { readPrincipalAndRecordContext } from './record-context.js';
import {
  addIdentifierBody,
  createEntryBody,
  createRiskFlagBody,
  createSubjectBody,
  CreatedSubject,
  Entry,
  IdentifierAdded,
  matchBody,
  MatchResults,
  PossibleDuplicate,
  RiskFlag,
  RiskFlags,
  searchBody,
  searchBodyDoc,
  searchQueryDoc,
  searchRequestQuery,
  SearchResults,
  SubjectRecord,
  type SearchTerms,
} from './schemas.js';

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
 * The record read's principal step (its route's `principal`), in place of `requirePrincipal`: the principal, checked as
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

/**
 * /v1/subjects: people, their risk flags, identifiers and clinical entries. HEAD on any person
 * route (consents and break-glass included: this group is mounted first) is refused before
 * anything is read.
 */
export function subjectsRoutes({ db, pdp, runner }: Pick<AppDeps, 'db' | 'pdp' | 'runner'>): RouteGroup {
  const service = new SubjectService(pdp);
  // Search: by name and date of birth, or by one identifier; in the query string, or in a POST
  // body for callers that keep person data out of URLs. Results best first, each with its grade.
  const search = async (req: Parameters<RequestHandler>[0], principal: Parameters<SubjectService['search']>[1], terms: SearchTerms) => ({
    status: 200 as const,
    body: await runner.read(req, A.subjectSearch, (scope) => service.search(scope, principal, terms)),
  });
  return {
    prefix: '/subjects',
    tag: 'subjects',
    use: [refuseHead],
    routes: [
      defineRoute({
        method: 'get',
        path: '/:id',
        operationId: 'readSubject',
        summary: 'The record filtered to the granted tier, with the access block',
        principal: recordReadPrincipal({ db, runner }),
        authorize: { action: 'read', type: 'Subject', audit: A.subjectRead },
        params: idParams,
        responses: { 200: { description: 'The record', schema: SubjectRecord } },
        handler: async ({ req, res, principal, params }) => ({
          status: 200,
          body: await runner.read(req, A.subjectRead, (scope) => service.read(scope, principal, params.id, res.locals.recordContext)),
        }),
      }),
      defineRoute({
        method: 'get',
        path: '/',
        operationId: 'searchSubjects',
        summary: 'Search by name and date of birth, or by one agency identifier (basic fields only, at most 20, best first)',
        description:
          'Either `name` (a family name, a given name or both) with `dob`, or `identifier` as `system|value` (metro-police|P-20931). The same tolerances as the duplicate check. Results come best first, each with its `grade`: a partner system checks the grade instead of taking the first row.',
        authorize: { action: 'search', type: 'Subject', audit: A.subjectSearch },
        query: searchRequestQuery,
        document: { query: searchQueryDoc },
        responses: { 200: { description: 'Matches (at most 20, best first; `truncated` says whether more matched)', schema: SearchResults } },
        handler: ({ req, principal, query }) => search(req, principal, query),
      }),
      defineRoute({
        method: 'post',
        path: '/search',
        operationId: 'searchSubjectsByBody',
        summary: 'The same search with the terms in the body, kept out of URLs',
        authorize: { action: 'search', type: 'Subject', audit: A.subjectSearch },
        body: searchBody,
        document: { body: searchBodyDoc },
        responses: { 200: { description: 'Matches (at most 20, best first)', schema: SearchResults } },
        handler: ({ req, principal, body }) => search(req, principal, body),
      }),
      defineRoute({
        method: 'post',
        path: '/match',
        operationId: 'matchSubject',
        summary: 'Ranked candidates for a person about to be created (the create body)',
        authorize: { action: 'create', type: 'Subject', audit: A.subjectMatch },
        body: matchBody,
        responses: { 200: { description: 'Candidates, best first (at most 20)', schema: MatchResults } },
        handler: async ({ req, principal, body }) => ({
          status: 200,
          body: await runner.read(req, A.subjectMatch, (scope) => service.match(scope, principal, body)),
        }),
      }),
      defineRoute({
        method: 'post',
        path: '/',
        operationId: 'createSubject',
        summary: 'Create a subject, after the duplicate check',
        description:
          'A certain or probable candidate refuses the creation: 409 `possible-duplicate` with `candidates`. Sending `notDuplicateOf` (every certain and probable candidate) with a `reason` creates the person and remembers the decision.',
        authorize: { action: 'create', type: 'Subject', audit: A.subjectCreate },
        body: createSubjectBody,
        responses: {
          201: { description: 'Created', schema: CreatedSubject },
          409: {
            description: 'A possible duplicate: the candidates (logged as shown), or an identifier another person holds.',
            media: { 'application/problem+json': PossibleDuplicate },
          },
        },
        handler: async ({ req, principal, body }) => {
          const outcome = await runner.run(req, A.subjectCreate, (scope) => service.create(scope, principal, body));
          if ('duplicate' in outcome) throw possibleDuplicate(outcome.duplicate);
          return { status: 201, body: outcome.created };
        },
      }),
      defineRoute({
        method: 'get',
        path: '/:id/risk-flags',
        operationId: 'listRiskFlags',
        summary: 'Risk flags (basic tier)',
        authorize: { action: 'read', type: 'Subject', audit: A.riskFlagRead },
        params: idParams,
        responses: { 200: { description: 'Risk flags', schema: RiskFlags } },
        handler: async ({ req, params }) => ({
          status: 200,
          body: await runner.read(req, A.riskFlagRead, (scope) => service.riskFlags(scope, params.id)),
        }),
      }),
      defineRoute({
        method: 'post',
        path: '/:id/risk-flags',
        operationId: 'createRiskFlag',
        summary: 'Contribute a risk flag',
        authorize: { action: 'create', type: 'RiskFlag', audit: A.riskFlagCreate },
        params: idParams,
        body: createRiskFlagBody,
        responses: { 201: { description: 'Created', schema: RiskFlag } },
        handler: async ({ req, principal, params, body }) => ({
          status: 201,
          body: await runner.run(req, A.riskFlagCreate, (scope) => service.addRiskFlag(scope, principal, params.id, body)),
        }),
      }),
      defineRoute({
        method: 'post',
        path: '/:id/identifiers',
        operationId: 'addIdentifier',
        summary: "Add the caller's agency's identifier to a person",
        authorize: { action: 'create', type: 'Identifier', audit: A.identifierCreate },
        params: idParams,
        body: addIdentifierBody,
        problems: [409],
        responses: { 200: { description: 'Already this person’s', schema: IdentifierAdded }, 201: { description: 'Added', schema: IdentifierAdded } },
        handler: async ({ req, principal, params, body }) => {
          const added = await runner.run(req, A.identifierCreate, (scope) => service.addIdentifier(scope, principal, params.id, body));
          return added.created ? { status: 201, body: added.identifier } : { status: 200, body: added.identifier };
        },
      }),
      defineRoute({
        method: 'post',
        path: '/:id/entries',
        operationId: 'createEntry',
        summary: 'Contribute a clinical entry',
        authorize: { action: 'create', type: 'Entry', audit: A.entryCreate },
        params: idParams,
        body: createEntryBody,
        responses: { 201: { description: 'Created', schema: Entry } },
        handler: async ({ req, principal, params, body }) => ({
          status: 201,
          body: await runner.run(req, A.entryCreate, (scope) => service.addEntry(scope, principal, params.id, body)),
        }),
      }),
    ],
  };
}
