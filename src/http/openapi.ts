import { readFileSync } from 'node:fs';
import { OpenAPIRegistry, OpenApiGeneratorV31, type ResponseConfig } from '@asteasolutions/zod-to-openapi';
import type { RequestHandler } from 'express';
import { z } from 'zod';
import type { Config } from '../config/index.js';
import { EnrolmentConfirmed, EnrolmentStarted, OAuthError, revokeBody, TokenResponse } from '../modules/oauth/schemas.js';
import { body as clientCredentialsGrantBody } from '../modules/oauth/client-credentials-grant.js';
import { confirm as enrolConfirmBody, start as enrolStartBody } from '../modules/oauth/enrolment.js';
import { body as passwordGrantBody } from '../modules/oauth/password-grant.js';
import { Liveness, NotReady, Ready } from '../modules/health/schemas.js';
import { fromPackageRoot } from '../paths.js';
import { JwkSet, Problem } from './shapes.js';

// The OpenAPI 3.1 document's frame (SPEC: "served at /openapi.json"): info, servers, tags, the
// bearer scheme, the problem answers every /v1 operation refers to, and the operations outside
// /v1 (/oauth, health, keys, this document), whose express routes are not /v1's. Every /v1
// operation is recorded by its own route (src/http/route.ts) in the registry passed in. Built
// once at start-up: nothing in it changes while the process runs.

type Json = Record<string, unknown>;

const problem = (description: string, headers?: Record<string, string>) => ({
  description,
  ...(headers ? { headers: describeHeaders(headers) } : {}),
  content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
});
const describeHeaders = (headers: Record<string, string>) =>
  Object.fromEntries(Object.entries(headers).map(([name, description]) => [name, { description, schema: { type: 'string' as const } }]));

const problemResponses = {
  400: problem('Invalid path, query or body (the fields at fault in `errors`); nothing changed.'),
  401: problem('No valid bearer token.', { 'WWW-Authenticate': 'Bearer realm="tiergate", with error="invalid_token" when a token was sent' }),
  403: problem('The policy refuses the request; `detail` says so without naming data.'),
  404: problem('No such resource (or one the caller may not learn of).'),
  409: problem('The request conflicts with the current state.'),
  413: problem('The body is larger than BODY_LIMIT.'),
  503: problem('The access log could not be written: no data was disclosed and nothing changed.'),
};

const json = (description: string, schema: z.ZodType, headers?: Record<string, string>): ResponseConfig => ({
  description,
  ...(headers ? { headers: describeHeaders(headers) } : {}),
  content: { 'application/json': { schema } },
});
/** The /oauth endpoints take form-encoded or JSON bodies and answer RFC 6749 errors. */
const formOrJson = (schema: z.ZodType) => ({ required: true, content: { 'application/x-www-form-urlencoded': { schema }, 'application/json': { schema } } });
const oauthError = (description: string, headers?: Record<string, string>) => json(description, OAuthError, headers);
const throttled = oauthError('Too many failed attempts (temporarily_unavailable)', { 'Retry-After': 'Seconds to wait' });
const unavailable = oauthError('The attempt could not be logged (temporarily_unavailable)');

/** The operations outside /v1: tokens and enrolment (/oauth), health, public keys and this document. */
function registerPublicOperations(registry: OpenAPIRegistry): void {
  const PasswordGrant = passwordGrantBody.meta({ id: 'PasswordGrant' });
  const ClientCredentialsGrant = clientCredentialsGrantBody.meta({ id: 'ClientCredentialsGrant' });
  registry.registerPath({
    method: 'post',
    path: '/oauth/token',
    operationId: 'issueToken',
    tags: ['identity'],
    summary: 'Issue an access token: password (+ TOTP) or client credentials with a private_key_jwt assertion (RFC 7523)',
    request: { body: formOrJson(z.discriminatedUnion('grant_type', [PasswordGrant, ClientCredentialsGrant])) },
    responses: {
      200: json('The token', TokenResponse),
      400: oauthError('invalid_request (missing, unknown or malformed field), invalid_grant or unsupported_grant_type'),
      401: oauthError('invalid_client', { 'WWW-Authenticate': 'Basic realm="tiergate"' }),
      429: throttled,
      503: unavailable,
    },
  });
  registry.registerPath({
    method: 'post',
    path: '/oauth/revoke',
    operationId: 'revokeToken',
    tags: ['identity'],
    summary: 'Revoke an access token (RFC 7009); 200 whether or not it was valid',
    request: { body: formOrJson(revokeBody) },
    responses: { 200: json('Done', z.object({})), 400: oauthError('invalid_request'), 503: unavailable },
  });
  registry.registerPath({
    method: 'post',
    path: '/oauth/enrol',
    operationId: 'startEnrolment',
    tags: ['identity'],
    summary: 'Set a password with an enrolment code and receive a TOTP secret and recovery codes',
    request: { body: formOrJson(enrolStartBody) },
    responses: { 200: json('The second factor', EnrolmentStarted), 400: oauthError('invalid_request or invalid_grant'), 429: throttled },
  });
  registry.registerPath({
    method: 'post',
    path: '/oauth/enrol/confirm',
    operationId: 'confirmEnrolment',
    tags: ['identity'],
    summary: 'Prove the authenticator works; completes enrolment',
    request: { body: formOrJson(enrolConfirmBody) },
    responses: { 200: json('Enrolled', EnrolmentConfirmed), 400: oauthError('invalid_request or invalid_grant'), 429: throttled },
  });
  const health = (path: string, operationId: string, summary: string, responses: Record<number, ResponseConfig>) =>
    registry.registerPath({ method: 'get', path, operationId, tags: ['health'], summary, responses });
  health('/.well-known/jwks.json', 'jwks', 'Public token- and checkpoint-signing keys', { 200: json('JWK set', JwkSet) });
  health('/healthz', 'liveness', 'Liveness', { 200: json('Alive', Liveness) });
  health('/readyz', 'readiness', 'Readiness: the access log takes an entry and a signing key is active', {
    200: json('Ready', Ready),
    503: json('Not ready', NotReady),
  });
  health('/openapi.json', 'openapi', 'This document', { 200: json('OpenAPI 3.1 document', z.object({})) });
}

const packageVersion = (): string => (JSON.parse(readFileSync(fromPackageRoot('package.json'), 'utf8')) as { version: string }).version;

/** The whole document: this frame around the /v1 operations the routes recorded in `routes`. */
export function buildOpenApiDocument(config: Config, routes: OpenAPIRegistry): Json {
  const registry = new OpenAPIRegistry([routes]);
  for (const [status, response] of Object.entries(problemResponses)) registry.registerComponent('responses', `Problem${status}`, response);
  registry.registerComponent('securitySchemes', 'bearerAuth', {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description: 'An access token from POST /oauth/token',
  });
  registerPublicOperations(registry);
  // Problem is named by $ref only (from the problem responses), so it is listed as a component here.
  return new OpenApiGeneratorV31([...registry.definitions, { type: 'schema', schema: Problem }]).generateDocument({
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
  }) as unknown as Json;
}

/** GET /openapi.json: public like the JWKS; the document changes only with a deploy. */
export function openApiRoute(config: Config, routes: OpenAPIRegistry): RequestHandler {
  const body = JSON.stringify(buildOpenApiDocument(config, routes));
  return (_req, res) => {
    res.set('Cache-Control', 'public, max-age=300').type('application/json').send(body);
  };
}
