import type { OpenAPIRegistry, ResponseConfig } from '@asteasolutions/zod-to-openapi';
import { Router, type Request, type RequestHandler, type Response } from 'express';
import type { z } from 'zod';
import type { Principal } from '../auth/principal.js';
import type { AuditAction } from '../audit/vocabulary.js';
import type { Action, SubjectType } from '../authz/ability.js';
import type { DecisionPoint } from '../authz/decide.js';
import { parseInput } from './validate.js';

// A /v1 route declared once, as fastify declares one: method, path, the principal step, the guard,
// the input schemas, the answers and the handler. defineRoute gives the handler typed input and types its answer by
// the documented schema; mountRoutes registers the express route and records the OpenAPI
// operation from the same options, so the document cannot list a route that is not served, nor
// miss one that is.

type Method = 'get' | 'post' | 'put' | 'delete' | 'patch';

/** One documented answer: JSON by `schema`, other media types by `media`, and its headers. */
export interface Answer {
  description: string;
  schema?: z.ZodType;
  media?: Record<string, z.ZodType>;
  headers?: Record<string, string>;
}
type Answers = Record<number, Answer>;

/** Problems a route can answer beyond those implied by its parts (400, 404, 413) and by /v1 itself (401, 403, 503). */
export type ProblemStatus = 400 | 401 | 403 | 404 | 409 | 413 | 503;

type Parsed<S> = S extends z.ZodType ? z.output<S> : undefined;

export interface RouteInput<P, Q, B> {
  req: Request;
  res: Response;
  /** The caller, from the route's principal step: every /v1 route has one. */
  principal: Principal;
  params: Parsed<P>;
  query: Parsed<Q>;
  body: Parsed<B>;
}

/** What a handler returns to be answered as JSON: a documented status and a body its schema takes. */
export type Reply<R extends Answers> = {
  [S in keyof R & number]: { status: S; body: R[S]['schema'] extends z.ZodType ? z.input<R[S]['schema']> : never; headers?: Record<string, string> };
}[keyof R & number];

export interface RouteOptions<P extends z.ZodType | undefined, Q extends z.ZodType | undefined, B extends z.ZodType | undefined, R extends Answers> {
  method: Method;
  /** Express syntax (`/:id/close`), below the group's prefix. */
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  /**
   * The route's own principal step, in place of the shared one (`requirePrincipal`): one that reads
   * what the route needs with the principal, in the same statement (the record read's).
   */
  principal?: RequestHandler;
  /** The route guard, checked before the input: can this role do `action` on `type` at all? A refusal is logged as `audit`. */
  authorize: { action: Action; type: SubjectType; audit: AuditAction };
  params?: P;
  query?: Q;
  body?: B;
  /**
   * The input as the document states it, where the route's schema picks one form by what was sent
   * (a transform, which JSON Schema cannot state): the same terms, one JSON Schema.
   */
  document?: { query?: z.ZodObject; body?: z.ZodType };
  responses: R;
  problems?: ProblemStatus[];
  /** Steps between the input's validation and the handler, each a named middleware. */
  before?: RequestHandler[];
  /** Answers by returning a Reply, or by writing `res` itself (CSV, FHIR) and returning nothing. */
  handler: (input: RouteInput<P, Q, B>) => Promise<Reply<NoInfer<R>> | void>;
}

/** A declared route, its types erased so that a module can list its routes. */
export interface Route {
  readonly options: RouteOptions<z.ZodType | undefined, z.ZodType | undefined, z.ZodType | undefined, Answers>;
}

export function defineRoute<
  R extends Answers,
  P extends z.ZodType | undefined = undefined,
  Q extends z.ZodType | undefined = undefined,
  B extends z.ZodType | undefined = undefined,
>(options: RouteOptions<P, Q, B, R>): Route {
  return { options: options as unknown as Route['options'] };
}

/** Routes under one prefix of /v1, one tag of the document; `use` runs before any of them (e.g. a method refusal). */
export interface RouteGroup {
  prefix: string;
  tag: string;
  use?: RequestHandler[];
  routes: Route[];
}

/** Marks the handler defineRoute registers, so a test can prove no /v1 route is registered another way. */
export const DECLARED = Symbol('tiergate.defineRoute');

/** Validates and types the input (src/http/validate.ts), and keeps the parsed body in req.body as before. */
function inputStep({ params, query, body }: Route['options']): RequestHandler {
  return (req, res, next) => {
    const parsed = parseInput({ params, query, body }, req);
    if (body) req.body = parsed.body;
    res.locals.input = parsed;
    next();
  };
}

function answerStep(options: Route['options']): RequestHandler {
  const step: RequestHandler = async (req, res) => {
    const input = (res.locals.input ?? {}) as { params?: unknown; query?: unknown; body?: unknown };
    const reply = await options.handler({
      req,
      res,
      principal: req.user!,
      params: options.params ? input.params : undefined,
      query: options.query ? input.query : undefined,
      body: options.body ? input.body : undefined,
    });
    if (!reply) return;
    if (reply.headers) res.set(reply.headers);
    res.status(reply.status).json(reply.body);
  };
  return Object.assign(step, { [DECLARED]: true });
}

const openApiPath = (prefix: string, path: string) => (prefix + (path === '/' ? '' : path)).replace(/:(\w+)/g, '{$1}');

/** What the document says of a route: its options but the guard, the steps and the handler. */
export type OperationDoc = Omit<Route['options'], 'principal' | 'authorize' | 'before' | 'handler'>;

/** Records one /v1 operation in the registry, as mountRoutes does for every route it mounts. */
function documentOperation(registry: OpenAPIRegistry, group: Pick<RouteGroup, 'prefix' | 'tag'>, o: OperationDoc): void {
  const statuses = new Set<ProblemStatus>([401, 403, 503, ...(o.problems ?? [])]);
  if (o.params || o.query || o.body) statuses.add(400);
  if (o.params) statuses.add(404);
  if (o.body) statuses.add(413);
  const problems = Object.fromEntries([...statuses].sort((a, b) => a - b).map((s) => [s, { $ref: `#/components/responses/Problem${s}` }]));
  const answers = Object.fromEntries(
    Object.entries(o.responses).map(([status, a]: [string, Answer]) => {
      const content = { ...(a.schema ? { 'application/json': { schema: a.schema } } : {}), ...mapValues(a.media ?? {}, (schema) => ({ schema })) };
      const headers = a.headers ? mapValues(a.headers, (description) => ({ description, schema: { type: 'string' as const } })) : undefined;
      return [status, { description: a.description, ...(headers ? { headers } : {}), content } satisfies ResponseConfig];
    }),
  );
  registry.registerPath({
    method: o.method,
    path: openApiPath(`/v1${group.prefix}`, o.path),
    operationId: o.operationId,
    tags: [group.tag],
    summary: o.summary,
    ...(o.description ? { description: o.description } : {}),
    request: {
      ...(o.params ? { params: o.params as z.ZodObject } : {}),
      ...(o.query ? { query: o.document?.query ?? (o.query as z.ZodObject) } : {}),
      ...(o.body ? { body: { required: true, content: { 'application/json': { schema: o.document?.body ?? o.body } } } } : {}),
    },
    // A route's own answer for a status (a 409 with candidates) takes the place of the shared problem.
    responses: { ...problems, ...answers },
    security: [{ bearerAuth: [] }],
  });
}

const mapValues = <T, U>(record: Record<string, T>, f: (value: T) => U): Record<string, U> =>
  Object.fromEntries(Object.entries(record).map(([k, v]) => [k, f(v)]));

/** What every /v1 route is mounted with: the decision point, and the principal step of routes without their own. */
export interface MountOptions {
  pdp: DecisionPoint;
  principal: RequestHandler;
}

/**
 * Mounts each group as its own router at its prefix (so the metrics' route label stays
 * `/v1/<prefix><path>`) and records every operation in `registry`. Per route: the principal step
 * (the route's own, or the shared one), the guard, the input, the route's own steps, the handler.
 */
export function mountRoutes(v1: Router, { pdp, principal }: MountOptions, registry: OpenAPIRegistry, groups: RouteGroup[]): void {
  for (const group of groups) {
    const router = Router();
    if (group.use?.length) router.use(...group.use);
    for (const { options } of group.routes) {
      const { action, type, audit } = options.authorize;
      const steps = [options.principal ?? principal, pdp.authorize(action, type, audit)];
      // Exactly as before: a route that declares no part reads none, and is not walked.
      if (options.params || options.query || options.body) steps.push(inputStep(options));
      router[options.method](options.path, ...steps, ...(options.before ?? []), answerStep(options));
      documentOperation(registry, group, options);
    }
    if (group.prefix) v1.use(group.prefix, router);
    else v1.use(router);
  }
}
