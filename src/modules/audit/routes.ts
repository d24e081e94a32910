import { z } from 'zod';
import { setFreshnessHeaders } from '../../audit/audit-reads.js';
import { AUDIT_ACTIONS as A } from '../../audit/vocabulary.js';
import type { AppDeps } from '../../deps.js';
import { BadRequest } from '../../errors/problems.js';
import { defineRoute, type RouteGroup } from '../../http/route.js';
import { JwkSet } from '../../http/shapes.js';
import { idParams } from '../../http/validate.js';
import { approvalsRoutes } from '../approvals/routes.js';
import { accountingPeriod, renderAccounting } from './accounting-formats.js';
import { presentQueue, recordReview, reviewQueue } from './break-glass-review.js';
import { consistency, inclusion, latest, signingKeys } from './checkpoints.js';
import { toCsv } from './csv.js';
import { disclosuresOf } from './disclosures.js';
import { CSV_COLUMNS, csvRow, presentEvent, searchEvents } from './events.js';
import {
  Accounting,
  AuditEventPage,
  BreakGlassQueue,
  BreakGlassReview,
  Checkpoint,
  ConsistencyProof,
  consistencyQuery,
  disclosuresQuery,
  eventsQuery,
  FhirBundle,
  InclusionProof,
  MAX_CSV,
  proofQuery,
  queueQuery,
  reviewBody,
} from './schemas.js';

const csv = z.string();

/**
 * /v1/audit: the compliance officer's search of the access log, the accounting of disclosures,
 * the break-glass review queue, the approvals queue, and signed checkpoints with their proofs.
 * Every read of the log is itself logged (src/audit/audit-reads.ts).
 */
export function auditRoutes({ pdp, runner, auditReads }: Pick<AppDeps, 'pdp' | 'runner' | 'auditReads'>): RouteGroup {
  const disclosurePolicy = pdp.policy.disclosures;
  return {
    prefix: '/audit',
    tag: 'audit',
    routes: [
      defineRoute({
        method: 'get',
        path: '/events',
        operationId: 'searchAuditEvents',
        summary: 'Search the access log, newest first, with cursor paging or CSV export',
        authorize: { action: 'read', type: 'AuditEvent', audit: A.auditRead },
        query: eventsQuery,
        responses: {
          200: {
            description: 'A page of events; with `format=csv` up to 10 000 rows and a `Link: rel="next"` header',
            headers: { Link: 'rel="next" for the following CSV page' },
            schema: AuditEventPage,
            media: { 'text/csv': csv },
          },
        },
        handler: async ({ req, res, query: q }) => {
          if (q.from && q.to && Date.parse(q.from) >= Date.parse(q.to)) throw new BadRequest('`from` must be before `to`.');
          const limit = q.format === 'csv' ? MAX_CSV : q.limit;
          const { result: rows, freshness } = await searchEvents(auditReads, req, q, limit);
          setFreshnessHeaders(res, freshness);
          const next = rows.length > limit ? String(rows[limit - 1]!.seq) : null;
          const page = rows.slice(0, limit);
          if (q.format === 'json') return { status: 200, body: { events: page.map(presentEvent), next, freshness } };
          if (next) {
            // The next page keeps every filter and the CSV format; only the cursor moves.
            const params = new URLSearchParams(
              Object.entries({ ...q, limit: undefined, cursor: next }).flatMap(([k, v]) => (v === undefined ? [] : [[k, String(v)]])),
            );
            res.set('Link', `<${req.baseUrl}/events?${params.toString()}>; rel="next"`);
          }
          res
            .type('text/csv')
            .attachment('access-log.csv')
            .send(toCsv(CSV_COLUMNS, page.map(csvRow)));
        },
      }),
      defineRoute({
        method: 'get',
        path: '/subjects/:id/disclosures',
        operationId: 'accountDisclosures',
        summary: 'Accounting of disclosures (45 CFR 164.528), six years back at most',
        authorize: { action: 'read', type: 'AuditEvent', audit: A.auditDisclosures },
        params: idParams,
        query: disclosuresQuery,
        responses: {
          200: {
            description: 'The accounting as JSON, CSV or a FHIR R4 Bundle',
            schema: Accounting,
            media: { 'text/csv': csv, 'application/fhir+json': FhirBundle },
          },
        },
        handler: async ({ req, res, params: { id: subjectId }, query: { from: fromIso, to: toIso, format } }) => {
          // The period is checked before anything is read (400 when it reaches back too far or is empty).
          const { from, to } = accountingPeriod(fromIso, toIso);
          // The accounting is itself an access about the person: logged, with ids and counts only.
          const { result: disclosures, freshness } = await disclosuresOf(auditReads, req, disclosurePolicy, subjectId, { from, to }, format);
          setFreshnessHeaders(res, freshness);
          const { contentType, body } = renderAccounting(format, subjectId, { from, to }, disclosures, disclosurePolicy.purposeOfUse, { freshness });
          if (format === 'csv') res.attachment(`disclosures-${subjectId}.csv`);
          res.type(contentType).send(body);
        },
      }),
      defineRoute({
        method: 'get',
        path: '/break-glass',
        operationId: 'listBreakGlassGrants',
        summary: 'The break-glass review queue',
        description:
          'Grants awaiting review (or reviewed, or all), newest first, each with its reason and the accesses made under it; a grant with any review leaves the awaiting queue.',
        authorize: { action: 'read', type: 'AuditEvent', audit: A.auditBreakGlassRead },
        query: queueQuery,
        responses: { 200: { description: 'Grants with their accesses and reviews', schema: BreakGlassQueue } },
        handler: async ({ req, query: { status, limit } }) => {
          // The reasons are free text that may name the person: which grants were shown is logged.
          const queue = await runner.run(req, A.auditBreakGlassRead, (scope) => reviewQueue(scope, status, limit));
          return { status: 200, body: presentQueue(status, queue) };
        },
      }),
      defineRoute({
        method: 'post',
        path: '/break-glass/:id/review',
        operationId: 'reviewBreakGlass',
        summary: 'Append a review of a break-glass grant',
        authorize: { action: 'read', type: 'AuditEvent', audit: A.breakGlassReview },
        params: idParams,
        body: reviewBody,
        responses: { 201: { description: 'Reviewed', schema: BreakGlassReview } },
        handler: async ({ req, principal, params: { id: grantId }, body: { decision, note } }) => {
          const review = await runner.run(req, A.breakGlassReview, (scope) => recordReview(scope, principal, grantId, decision, note));
          return {
            status: 201,
            body: {
              id: review.id,
              grantId,
              decision: review.decision,
              note: review.note,
              reviewer: { user: principal.username, userId: review.reviewerId },
              reviewedAt: review.reviewedAt,
            },
          };
        },
      }),
      ...approvalsRoutes({ pdp, runner }),
      defineRoute({
        method: 'get',
        path: '/checkpoints/latest',
        operationId: 'latestCheckpoint',
        summary: 'The latest signed checkpoint of the access log (signed on the policy’s schedule, never by a read)',
        authorize: { action: 'read', type: 'Checkpoint', audit: A.checkpointRead },
        problems: [404],
        responses: { 200: { description: 'Checkpoint', schema: Checkpoint } },
        handler: async ({ req }) => ({ status: 200, body: await runner.run(req, A.checkpointRead, latest) }),
      }),
      defineRoute({
        method: 'get',
        path: '/checkpoints/keys',
        operationId: 'checkpointKeys',
        summary: 'Every public key that ever signed a checkpoint or token, retired ones included, for auditors to pin',
        authorize: { action: 'read', type: 'Checkpoint', audit: A.checkpointKeysRead },
        responses: { 200: { description: 'JWK set', schema: JwkSet } },
        handler: async ({ req }) => ({ status: 200, body: await runner.run(req, A.checkpointKeysRead, signingKeys) }),
      }),
      defineRoute({
        method: 'get',
        path: '/checkpoints/consistency',
        operationId: 'consistencyProof',
        summary: 'RFC 9162 consistency proof between two checkpoints',
        authorize: { action: 'read', type: 'Checkpoint', audit: A.proofRead },
        query: consistencyQuery,
        responses: { 200: { description: 'Proof', schema: ConsistencyProof } },
        handler: async ({ req, query: { from, to } }) => {
          if (from > to) throw new BadRequest('`from` must not exceed `to`.');
          return { status: 200, body: await runner.run(req, A.proofRead, (scope) => consistency(scope, from, to)) };
        },
      }),
      defineRoute({
        method: 'get',
        path: '/entries/:id/proof',
        operationId: 'inclusionProof',
        summary: 'Inclusion proof of an access-log entry',
        authorize: { action: 'read', type: 'AuditEvent', audit: A.proofRead },
        params: idParams,
        query: proofQuery,
        problems: [409],
        responses: { 200: { description: 'Proof', schema: InclusionProof } },
        handler: async ({ req, params, query }) => ({
          status: 200,
          body: await runner.run(req, A.proofRead, (scope) => inclusion(scope, params.id, query.treeSize)),
        }),
      }),
    ],
  };
}
