import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { documentOperation } from '../../http/route.js';
import { idParams } from '../../http/validate.js';
import {
  createEntryBody,
  createRiskFlagBody,
  createSubjectBody,
  CreatedSubject,
  Entry,
  RiskFlag,
  RiskFlags,
  searchQuery,
  SubjectRecord,
  SubjectSearchResult,
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
    summary: 'Search by name and date of birth (basic fields only, at most 20)',
    query: searchQuery,
    responses: { 200: { description: 'Matches (at most 20; `truncated` says whether more matched)', schema: SubjectSearchResult } },
  });
  documentOperation(registry, group, {
    method: 'post',
    path: '/',
    operationId: 'createSubject',
    summary: 'Create a subject',
    body: createSubjectBody,
    responses: { 201: { description: 'Created', schema: CreatedSubject } },
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
