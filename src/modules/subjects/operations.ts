import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { documentOperation } from '../../http/route.js';
import { idParams } from '../../http/validate.js';
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
} from './schemas.js';

// The person routes' operations, while their router (routes.ts) is not yet declared with
// defineRoute: the record read's round trip is being reworked on another branch. When it is,
// these move into the routes' declarations and this file goes.

export function documentSubjectsRoutes(registry: OpenAPIRegistry): void {
  const group = { prefix: '/subjects', tag: 'subjects' };
  documentOperation(registry, group, {
    method: 'get',
    path: '/',
    operationId: 'searchSubjects',
    summary: 'Search by name and date of birth, or by one agency identifier (basic fields only, at most 20, best first)',
    description:
      'Either `name` (a family name, a given name or both) with `dob`, or `identifier` as `system|value` (metro-police|P-20931). The same tolerances as the duplicate check. Results come best first, each with its `grade`: a partner system checks the grade instead of taking the first row.',
    query: searchRequestQuery,
    document: { query: searchQueryDoc },
    responses: { 200: { description: 'Matches (at most 20, best first; `truncated` says whether more matched)', schema: SearchResults } },
  });
  documentOperation(registry, group, {
    method: 'post',
    path: '/search',
    operationId: 'searchSubjectsByBody',
    summary: 'The same search with the terms in the body, kept out of URLs',
    body: searchBody,
    document: { body: searchBodyDoc },
    responses: { 200: { description: 'Matches (at most 20, best first)', schema: SearchResults } },
  });
  documentOperation(registry, group, {
    method: 'post',
    path: '/match',
    operationId: 'matchSubject',
    summary: 'Ranked candidates for a person about to be created (the create body)',
    body: matchBody,
    responses: { 200: { description: 'Candidates, best first (at most 20)', schema: MatchResults } },
  });
  documentOperation(registry, group, {
    method: 'post',
    path: '/',
    operationId: 'createSubject',
    summary: 'Create a subject, after the duplicate check',
    description:
      'A certain or probable candidate refuses the creation: 409 `possible-duplicate` with `candidates`. Sending `notDuplicateOf` (every certain and probable candidate) with a `reason` creates the person and remembers the decision.',
    body: createSubjectBody,
    responses: {
      201: { description: 'Created', schema: CreatedSubject },
      409: {
        description: 'A possible duplicate: the candidates (logged as shown), or an identifier another person holds.',
        media: { 'application/problem+json': PossibleDuplicate },
      },
    },
  });
  documentOperation(registry, group, {
    method: 'post',
    path: '/:id/identifiers',
    operationId: 'addIdentifier',
    summary: "Add the caller's agency's identifier to a person",
    params: idParams,
    body: addIdentifierBody,
    problems: [409],
    responses: { 200: { description: 'Already this person’s', schema: IdentifierAdded }, 201: { description: 'Added', schema: IdentifierAdded } },
  });
  documentOperation(registry, group, {
    method: 'get',
    path: '/:id',
    operationId: 'readSubject',
    summary: 'The record filtered to the granted tier, with the access block',
    params: idParams,
    responses: { 200: { description: 'The record', schema: SubjectRecord } },
  });
  documentOperation(registry, group, {
    method: 'get',
    path: '/:id/risk-flags',
    operationId: 'listRiskFlags',
    summary: 'Risk flags (basic tier)',
    params: idParams,
    responses: { 200: { description: 'Risk flags', schema: RiskFlags } },
  });
  documentOperation(registry, group, {
    method: 'post',
    path: '/:id/risk-flags',
    operationId: 'createRiskFlag',
    summary: 'Contribute a risk flag',
    params: idParams,
    body: createRiskFlagBody,
    responses: { 201: { description: 'Created', schema: RiskFlag } },
  });
  documentOperation(registry, group, {
    method: 'post',
    path: '/:id/entries',
    operationId: 'createEntry',
    summary: 'Contribute a clinical entry',
    params: idParams,
    body: createEntryBody,
    responses: { 201: { description: 'Created', schema: Entry } },
  });
}
