import { readFileSync } from 'node:fs';
import type { RequestHandler } from 'express';
import { z } from 'zod';
import type { AppDeps } from '../deps.js';
import type { Policy } from '../authz/policy.js';
import type { Config } from '../config/index.js';
import { fromPackageRoot } from '../paths.js';
import {
  agencyParams,
  clientParams,
  clientUsersBody,
  createAgencyBody,
  inviteUserBody,
  listUsersQuery,
  registerClientBody,
  setRoleBody,
  userParams,
} from '../modules/admin/schemas.js';
import { approvalsQuery, decisionBody } from '../modules/approvals/routes.js';
import { queueQuery, reviewBody } from '../modules/audit/break-glass-review.js';
import { consistencyQuery, proofQuery } from '../modules/audit/checkpoints.js';
import { disclosuresQuery } from '../modules/audit/disclosures.js';
import { eventsQuery } from '../modules/audit/routes.js';
import { breakGlassBody } from '../modules/break-glass/routes.js';
import { addMemberBody, createCaseBody, memberParams } from '../modules/cases/routes.js';
import { createConsentBody, revokeConsentBody } from '../modules/consents/schemas.js';
import { body as clientCredentialsGrantBody } from '../modules/oauth/client-credentials-grant.js';
import { confirm as enrolConfirmBody, start as enrolStartBody } from '../modules/oauth/enrolment.js';
import { body as passwordGrantBody } from '../modules/oauth/password-grant.js';
import { revokeBody } from '../modules/oauth/routes.js';
import {
  addIdentifierBody,
  createEntryBody,
  createRiskFlagBody,
  createSubjectBody,
  matchBody,
  searchBodyDoc,
  searchQuery,
} from '../modules/subjects/schemas.js';

// The search's query string as documented: `name` with `dob`, or `identifier` alone (the route's
// schema is a union of the two, which OpenAPI parameters cannot express).
const searchQueryDoc = searchQuery.partial().extend({
  identifier: z.string().max(140).optional().describe('system|value, for example metro-police|P-20931; instead of name and dob'),
});
import { at, list, object, ref, responseSchemas, string, type Json } from './openapi-shapes.js';
import { idParams } from './validate.js';

// The OpenAPI 3.1 document of every endpoint the app serves (SPEC: "served at /openapi.json").
// Parameters and bodies are generated from the zod schemas the routes validate with, so the
// document cannot drift from what a route accepts; the answers' shapes are in openapi-shapes.ts.
// test/integration/openapi.test.ts holds both to the app. Built once at start-up: nothing in it
// changes while the process runs.

/** What a client must send, as JSON Schema 2020-12 (OpenAPI 3.1's dialect). */
function fromZod(schema: z.ZodType): Json {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'input' });
  return rest;
}

const json = (schema: Json) => ({ 'application/json': { schema } });
const ok = (description: string, schema: Json) => ({ description, content: json(schema) });
const problem = (description: string, headers?: Json) => ({
  description,
  ...(headers ? { headers } : {}),
  content: { 'application/problem+json': { schema: ref('Problem') } },
});
const oauthError = (description: string, headers?: Json) => ({ description, ...(headers ? { headers } : {}), content: json(ref('OAuthError')) });
const header = (description: string) => ({ description, schema: string });

const problemResponses = {
  400: problem('Invalid path, query or body (the fields at fault in `errors`); nothing changed.'),
  401: problem('No valid bearer token.', { 'WWW-Authenticate': header('Bearer realm="tiergate", with error="invalid_token" when a token was sent') }),
  403: problem('The policy refuses the request; `detail` says so without naming data.'),
  404: problem('No such resource (or one the caller may not learn of).'),
  409: problem('The request conflicts with the current state.'),
  413: problem('The body is larger than BODY_LIMIT.'),
  503: problem('The access log could not be written: no data was disclosed and nothing changed.'),
};
type ProblemStatus = keyof typeof problemResponses;

interface Operation {
  operationId: string;
  summary: string;
  description?: string;
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  responses: Record<number, Json>;
  /** Problems beyond those implied by the parts validated (400, 404, 413) and by /v1 itself (401, 403, 503). */
  problems?: ProblemStatus[];
}

/** A zod object's properties as OpenAPI parameters; the routes refuse parameters not listed. */
function parameters(where: 'path' | 'query', schema?: z.ZodType): Json[] {
  if (!schema) return [];
  const { properties = {}, required = [] } = fromZod(schema) as { properties?: Record<string, Json>; required?: string[] };
  return Object.entries(properties).map(([name, s]) => ({ name, in: where, required: where === 'path' || required.includes(name), schema: s }));
}

function v1Operation(tag: string, op: Operation): Json {
  const statuses = new Set<ProblemStatus>([401, 403, 503, ...(op.problems ?? [])]);
  if (op.params || op.query || op.body) statuses.add(400);
  if (op.params) statuses.add(404);
  if (op.body) statuses.add(413);
  const errors = Object.fromEntries([...statuses].sort((a, b) => a - b).map((s) => [s, { $ref: `#/components/responses/Problem${s}` }]));
  const params = [...parameters('path', op.params), ...parameters('query', op.query)];
  return {
    operationId: op.operationId,
    tags: [tag],
    summary: op.summary,
    ...(op.description ? { description: op.description } : {}),
    ...(params.length ? { parameters: params } : {}),
    ...(op.body ? { requestBody: { required: true, content: json(fromZod(op.body)) } } : {}),
    responses: { ...op.responses, ...errors },
    security: [{ bearerAuth: [] }],
  };
}

/** Everything under /v1, keyed 'METHOD /path' as the routers declare it, grouped by tag. */
function v1Operations(policy: Policy): Record<string, Record<string, Operation>> {
  return {
    subjects: {
      'GET /v1/subjects': {
        operationId: 'searchSubjects',
        summary: 'Search by name and date of birth, or by one agency identifier (basic fields only, at most 20, best first)',
        description:
          'Either `name` (a family name, a given name or both) with `dob`, or `identifier` as `system|value` (metro-police|P-20931). The same tolerances as the duplicate check. Results come best first, each with its `grade`: a partner system checks the grade instead of taking the first row.',
        query: searchQueryDoc,
        responses: { 200: ok('Matches (at most 20, best first; `truncated` says whether more matched)', ref('SearchResults')) },
      },
      'POST /v1/subjects/search': {
        operationId: 'searchSubjectsByBody',
        summary: 'The same search with the terms in the body, kept out of URLs',
        body: searchBodyDoc,
        responses: { 200: ok('Matches (at most 20, best first)', ref('SearchResults')) },
      },
      'POST /v1/subjects/match': {
        operationId: 'matchSubject',
        summary: 'Ranked candidates for a person about to be created (the create body)',
        body: matchBody,
        responses: { 200: ok('Candidates, best first (at most 20)', object({ candidates: list(ref('Candidate')) })) },
      },
      'POST /v1/subjects': {
        operationId: 'createSubject',
        summary: 'Create a subject, after the duplicate check',
        description:
          'A certain or probable candidate refuses the creation: 409 `possible-duplicate` with `candidates`. Sending `notDuplicateOf` (every certain and probable candidate) with a `reason` creates the person and remembers the decision.',
        body: createSubjectBody,
        responses: {
          201: ok('Created', { allOf: [ref('SubjectSummary'), object({ createdAt: at, identifiers: list(ref('Identifier')) })] }),
          409: {
            description: 'A possible duplicate: the candidates (logged as shown), or an identifier another person holds.',
            content: { 'application/problem+json': { schema: { allOf: [ref('Problem'), object({ candidates: list(ref('Candidate')) }, [])] } } },
          },
        },
      },
      'POST /v1/subjects/:id/identifiers': {
        operationId: 'addIdentifier',
        summary: "Add the caller's agency's identifier to a person",
        params: idParams,
        body: addIdentifierBody,
        responses: { 200: ok('Already this person’s', ref('IdentifierAdded')), 201: ok('Added', ref('IdentifierAdded')) },
        problems: [409],
      },
      'GET /v1/subjects/:id': {
        operationId: 'readSubject',
        summary: 'The record filtered to the granted tier, with the access block',
        params: idParams,
        responses: { 200: ok('The record', ref('SubjectRecord')) },
      },
      'GET /v1/subjects/:id/risk-flags': {
        operationId: 'listRiskFlags',
        summary: 'Risk flags (basic tier)',
        params: idParams,
        responses: { 200: ok('Risk flags', object({ riskFlags: list(ref('RiskFlag')) })) },
      },
      'POST /v1/subjects/:id/risk-flags': {
        operationId: 'createRiskFlag',
        summary: 'Contribute a risk flag',
        params: idParams,
        body: createRiskFlagBody,
        responses: { 201: ok('Created', ref('RiskFlag')) },
      },
      'POST /v1/subjects/:id/entries': {
        operationId: 'createEntry',
        summary: 'Contribute a clinical entry',
        params: idParams,
        body: createEntryBody,
        responses: { 201: ok('Created', ref('Entry')) },
      },
    },
    consents: {
      'GET /v1/subjects/:id/consents': {
        operationId: 'listConsents',
        summary: "The person's consents with their status",
        params: idParams,
        responses: { 200: ok('Consents', object({ consents: list(ref('Consent')) })) },
      },
      'POST /v1/subjects/:id/consents': {
        operationId: 'createConsent',
        summary: 'Record consent',
        description:
          'Also refused with 400: a consent granting `full`, verbal consent without a witness, `validUntil` not after `validFrom`, an unknown recipient agency.',
        params: idParams,
        body: createConsentBody,
        responses: { 201: ok('Recorded', ref('Consent')) },
      },
      'POST /v1/consents/:id/revoke': {
        operationId: 'revokeConsent',
        summary: 'Revoke a consent (effective for the next request)',
        params: idParams,
        body: revokeConsentBody,
        problems: [409],
        responses: { 200: ok('Revoked', ref('Consent')) },
      },
    },
    'break-glass': {
      'POST /v1/subjects/:id/break-glass': {
        operationId: 'breakGlass',
        summary: 'Declare an emergency: a temporary elevated tier, flagged in the log and queued for review',
        params: idParams,
        body: breakGlassBody(policy.breakGlass),
        description:
          'One live grant per user and person: a second while one is live is 409 unless `renew` is true with a new reason (a renewal is flagged in the log and the review queue); at most `breakGlass.maxPerDay` declarations per user in any 24 hours (403).',
        problems: [409],
        responses: { 201: ok('Granted', ref('BreakGlassGrant')) },
      },
    },
    cases: {
      'POST /v1/cases': {
        operationId: 'createCase',
        summary: 'Open a case; the creator is its first member',
        body: createCaseBody,
        responses: { 201: ok('Opened', ref('Case')) },
      },
      'POST /v1/cases/:id/members': {
        operationId: 'addCaseMember',
        summary: 'Add a member (username or user id)',
        params: idParams,
        body: addMemberBody,
        problems: [409],
        responses: { 201: ok('The case with its team', ref('Case')) },
      },
      'DELETE /v1/cases/:id/members/:userId': {
        operationId: 'removeCaseMember',
        summary: 'Remove a member (kept in history)',
        params: memberParams,
        problems: [409],
        responses: { 200: ok('The case with its team', ref('Case')) },
      },
      'POST /v1/cases/:id/participants': {
        operationId: 'joinCase',
        summary: "Join the case from the caller's agency, bringing that agency's records in",
        params: idParams,
        problems: [409],
        responses: { 201: ok('The case with its participants', ref('Case')) },
      },
      'POST /v1/cases/:id/close': {
        operationId: 'closeCase',
        summary: 'Close a case; membership stops granting the full tier',
        params: idParams,
        problems: [409],
        responses: { 200: ok('Closed', ref('Case')) },
      },
    },
    audit: {
      'GET /v1/audit/events': {
        operationId: 'searchAuditEvents',
        summary: 'Search the access log, newest first, with cursor paging or CSV export',
        query: eventsQuery,
        responses: {
          200: {
            description: 'A page of events; with `format=csv` up to 10 000 rows and a `Link: rel="next"` header',
            headers: { Link: header('rel="next" for the following CSV page') },
            content: { ...json(ref('AuditEventPage')), 'text/csv': { schema: string } },
          },
        },
      },
      'GET /v1/audit/subjects/:id/disclosures': {
        operationId: 'accountDisclosures',
        summary: 'Accounting of disclosures (45 CFR 164.528), six years back at most',
        params: idParams,
        query: disclosuresQuery,
        responses: {
          200: {
            description: 'The accounting as JSON, CSV or a FHIR R4 Bundle',
            content: { ...json(ref('Accounting')), 'text/csv': { schema: string }, 'application/fhir+json': { schema: ref('FhirBundle') } },
          },
        },
      },
      'GET /v1/audit/break-glass': {
        operationId: 'listBreakGlassGrants',
        summary: 'The break-glass review queue',
        query: queueQuery,
        responses: { 200: ok('Grants with their accesses and reviews', ref('BreakGlassQueue')) },
      },
      'POST /v1/audit/break-glass/:id/review': {
        operationId: 'reviewBreakGlass',
        summary: 'Append a review of a break-glass grant',
        params: idParams,
        body: reviewBody,
        responses: { 201: ok('Reviewed', ref('BreakGlassReview')) },
      },
      'GET /v1/audit/approvals': {
        operationId: 'listApprovals',
        summary: "The approvals queue: operators' changes to partner accounts and clients and to approvers, and changes made at once for review",
        query: approvalsQuery,
        responses: { 200: ok('Requests', object({ status: string, approvals: list(ref('Approval')) })) },
      },
      'POST /v1/audit/approvals/:id/decision': {
        operationId: 'decideApproval',
        summary: 'Approve or reject a request (a compliance officer who does not administer and did not ask for it)',
        params: idParams,
        body: decisionBody,
        problems: [409],
        responses: { 200: ok('Decided; an approved invitation carries the approver’s half of the enrolment, shown once', ref('Approval')) },
      },
      'GET /v1/audit/checkpoints/latest': {
        operationId: 'latestCheckpoint',
        summary: 'The latest signed checkpoint of the access log (signed on the policy’s schedule, never by a read)',
        problems: [404],
        responses: { 200: ok('Checkpoint', ref('Checkpoint')) },
      },
      'GET /v1/audit/checkpoints/keys': {
        operationId: 'checkpointKeys',
        summary: 'Every public key that ever signed a checkpoint or token, retired ones included, for auditors to pin',
        responses: { 200: ok('JWK set', ref('JwkSet')) },
      },
      'GET /v1/audit/checkpoints/consistency': {
        operationId: 'consistencyProof',
        summary: 'RFC 9162 consistency proof between two checkpoints',
        query: consistencyQuery,
        responses: { 200: ok('Proof', ref('ConsistencyProof')) },
      },
      'GET /v1/audit/entries/:id/proof': {
        operationId: 'inclusionProof',
        summary: 'Inclusion proof of an access-log entry',
        params: idParams,
        query: proofQuery,
        problems: [409],
        responses: { 200: ok('Proof', ref('InclusionProof')) },
      },
    },
    admin: {
      'POST /v1/admin/agencies': {
        operationId: 'createAgency',
        summary: 'Create an agency',
        body: createAgencyBody,
        problems: [409],
        responses: { 201: ok('Created', ref('Agency')) },
      },
      'GET /v1/admin/agencies': {
        operationId: 'listAgencies',
        summary: 'List agencies',
        responses: { 200: ok('Agencies', object({ agencies: list(ref('Agency')) })) },
      },
      'POST /v1/admin/agencies/:slug/disable': {
        operationId: 'disableAgency',
        summary: "Disable an agency; its users' tokens stop working",
        params: agencyParams,
        problems: [409],
        responses: { 200: ok('Disabled (at once), queued for review', { allOf: [ref('Agency'), ref('Reviewed')] }) },
      },
      'POST /v1/admin/users': {
        operationId: 'inviteUser',
        summary: 'Invite a user (one-time enrolment code)',
        body: inviteUserBody,
        problems: [409],
        responses: { 201: ok('Invited', ref('Invitation')) },
      },
      'GET /v1/admin/users': {
        operationId: 'listUsers',
        summary: 'List users, optionally of one agency',
        query: listUsersQuery,
        problems: [404],
        responses: { 200: ok('Users', object({ users: list(ref('User')) })) },
      },
      'POST /v1/admin/users/:id/role': {
        operationId: 'setUserRole',
        summary: "Change a user's role",
        params: userParams,
        body: setRoleBody,
        problems: [409],
        responses: {
          200: ok('Updated (a gateway-agency user)', ref('User')),
          202: ok('A partner user: the new role waits for a compliance officer; the old one stands', ref('PendingRole')),
        },
      },
      'POST /v1/admin/users/:id/disable': {
        operationId: 'disableUser',
        summary: 'Disable a user',
        params: userParams,
        problems: [409],
        responses: { 200: ok('Disabled (at once); a partner’s or an approver’s account is queued for review', { allOf: [ref('User'), ref('Reviewed')] }) },
      },
      'POST /v1/admin/users/:id/reset-mfa': {
        operationId: 'resetUserMfa',
        summary: "Void a user's second factor and issue a new enrolment code (re-enrolment proves the user's current password)",
        params: userParams,
        problems: [409],
        responses: {
          200: ok('Reset (a partner’s is queued for review)', { allOf: [ref('Invitation'), ref('Reviewed')] }),
          202: ok('An approver’s reset, waiting for another compliance officer', ref('PendingReset')),
        },
      },
      'POST /v1/admin/clients': {
        operationId: 'registerClient',
        summary: 'Register a machine client (private_key_jwt)',
        body: registerClientBody,
        problems: [409],
        responses: { 201: ok('Registered', ref('Client')) },
      },
      'PUT /v1/admin/clients/:clientId/users': {
        operationId: 'setClientUsers',
        summary: 'Ask to set the people a client may act for (on_behalf_of); takes effect when a compliance officer approves',
        params: clientParams,
        body: clientUsersBody,
        problems: [409],
        responses: { 202: ok('Queued for approval', ref('PendingClientUsers')) },
      },
      'GET /v1/admin/clients': {
        operationId: 'listClients',
        summary: 'List machine clients',
        responses: { 200: ok('Clients', object({ clients: list(ref('Client')) })) },
      },
      'POST /v1/admin/clients/:clientId/disable': {
        operationId: 'disableClient',
        summary: 'Disable a machine client',
        params: clientParams,
        responses: { 200: ok('Disabled (at once); a partner’s or an auditing client is queued for review', { allOf: [ref('Client'), ref('Reviewed')] }) },
      },
      'GET /v1/admin/keys': {
        operationId: 'listSigningKeys',
        summary: 'Signing keys (kids and lifecycle, never key material)',
        responses: { 200: ok('Keys', object({ keys: list(ref('SigningKey')) })) },
      },
      'POST /v1/admin/keys/rotate': {
        operationId: 'rotateSigningKeys',
        summary: 'Rotate the token-signing key with overlap',
        responses: { 201: ok('Rotated', ref('KeyRotation')) },
      },
    },
  };
}

/** The /oauth endpoints take form-encoded or JSON bodies and answer RFC 6749 errors. */
const formOrJson = (schema: Json) => ({ required: true, content: { 'application/x-www-form-urlencoded': { schema }, 'application/json': { schema } } });
const throttled = oauthError('Too many failed attempts (temporarily_unavailable)', { 'Retry-After': header('Seconds to wait') });
const unavailable = oauthError('The attempt could not be logged (temporarily_unavailable)');

const publicPaths: Record<string, Json> = {
  '/oauth/token': {
    post: {
      operationId: 'issueToken',
      tags: ['identity'],
      summary: 'Issue an access token: password (+ TOTP) or client credentials with a private_key_jwt assertion (RFC 7523)',
      requestBody: formOrJson({
        oneOf: [ref('PasswordGrant'), ref('ClientCredentialsGrant')],
        discriminator: {
          propertyName: 'grant_type',
          mapping: { password: '#/components/schemas/PasswordGrant', client_credentials: '#/components/schemas/ClientCredentialsGrant' },
        },
      }),
      responses: {
        200: ok('The token', ref('TokenResponse')),
        400: oauthError('invalid_request (missing, unknown or malformed field), invalid_grant or unsupported_grant_type'),
        401: oauthError('invalid_client', { 'WWW-Authenticate': header('Basic realm="tiergate"') }),
        429: throttled,
        503: unavailable,
      },
    },
  },
  '/oauth/revoke': {
    post: {
      operationId: 'revokeToken',
      tags: ['identity'],
      summary: 'Revoke an access token (RFC 7009); 200 whether or not it was valid',
      requestBody: formOrJson(fromZod(revokeBody)),
      responses: { 200: ok('Done', { type: 'object' }), 400: oauthError('invalid_request'), 503: unavailable },
    },
  },
  '/oauth/enrol': {
    post: {
      operationId: 'startEnrolment',
      tags: ['identity'],
      summary: 'Set a password with an enrolment code and receive a TOTP secret and recovery codes',
      requestBody: formOrJson(fromZod(enrolStartBody)),
      responses: {
        200: ok('The second factor', object({ totp_secret: string, otpauth_uri: string, recovery_codes: list(string) })),
        400: oauthError('invalid_request or invalid_grant'),
        429: throttled,
      },
    },
  },
  '/oauth/enrol/confirm': {
    post: {
      operationId: 'confirmEnrolment',
      tags: ['identity'],
      summary: 'Prove the authenticator works; completes enrolment',
      requestBody: formOrJson(fromZod(enrolConfirmBody)),
      responses: { 200: ok('Enrolled', object({ enrolled: { const: true } })), 400: oauthError('invalid_request or invalid_grant'), 429: throttled },
    },
  },
  '/.well-known/jwks.json': {
    get: { operationId: 'jwks', tags: ['health'], summary: 'Public token- and checkpoint-signing keys', responses: { 200: ok('JWK set', ref('JwkSet')) } },
  },
  '/healthz': { get: { operationId: 'liveness', tags: ['health'], summary: 'Liveness', responses: { 200: ok('Alive', object({ status: { const: 'ok' } })) } } },
  '/readyz': {
    get: {
      operationId: 'readiness',
      tags: ['health'],
      summary: 'Readiness: the access log takes an entry and a signing key is active',
      responses: {
        200: ok('Ready', object({ status: { const: 'ready' }, logWritable: { type: 'boolean' }, signingKey: { type: 'boolean' } })),
        503: ok('Not ready', object({ status: { const: 'unavailable' }, logWritable: { type: 'boolean' }, signingKey: { type: 'boolean' } })),
      },
    },
  },
  '/openapi.json': {
    get: { operationId: 'openapi', tags: ['health'], summary: 'This document', responses: { 200: ok('OpenAPI 3.1 document', { type: 'object' }) } },
  },
};

const packageVersion = (): string => (JSON.parse(readFileSync(fromPackageRoot('package.json'), 'utf8')) as { version: string }).version;

export function buildOpenApiDocument(config: Config, policy: Policy): Json {
  const paths: Record<string, Json> = { ...publicPaths };
  for (const [tag, operations] of Object.entries(v1Operations(policy))) {
    for (const [key, op] of Object.entries(operations)) {
      const [method, path] = key.split(' ') as [string, string];
      ((paths[path.replace(/:(\w+)/g, '{$1}')] ??= {}) as Json)[method.toLowerCase()] = v1Operation(tag, op);
    }
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'tiergate',
      version: packageVersion(),
      description:
        'Interagency information-sharing gateway with tiered sharing. /v1 takes JSON and answers RFC 9457 problem+json errors; /oauth answers RFC 6749 errors. ' +
        'Request schemas are generated from the validators. A few checks JSON Schema cannot state (dates of birth between 1900 and today, cross-field rules, no control characters, text trimmed before its length counts) are made by the route alone, with the same 400.',
    },
    servers: [{ url: config.TOKEN_ISSUER, description: 'The token issuer, the gateway’s public base URL' }],
    tags: [
      { name: 'identity', description: 'Tokens, revocation and second-factor enrolment (/oauth)' },
      { name: 'health', description: 'Liveness, readiness, public keys and this document' },
      { name: 'subjects', description: 'People, risk flags and clinical entries' },
      { name: 'consents', description: 'Consent to the intermediate tier' },
      { name: 'break-glass', description: 'Declared emergencies' },
      { name: 'cases', description: 'Ongoing cases and their teams (the full tier)' },
      { name: 'audit', description: 'Access log, accounting of disclosures, review queue, signed checkpoints' },
      { name: 'admin', description: 'Agencies, users, machine clients and signing keys' },
    ],
    paths,
    components: {
      schemas: { ...responseSchemas, PasswordGrant: fromZod(passwordGrantBody), ClientCredentialsGrant: fromZod(clientCredentialsGrantBody) },
      responses: Object.fromEntries(Object.entries(problemResponses).map(([status, response]) => [`Problem${status}`, response])),
      securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'An access token from POST /oauth/token' } },
    },
  };
}

/** GET /openapi.json: public like the JWKS; the document changes only with a deploy. */
export function openApiRoute({ config, pdp }: Pick<AppDeps, 'config' | 'pdp'>): RequestHandler {
  const body = JSON.stringify(buildOpenApiDocument(config, pdp.policy));
  return (_req, res) => {
    res.set('Cache-Control', 'public, max-age=300').type('application/json').send(body);
  };
}
