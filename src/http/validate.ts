import type { Request, RequestHandler } from 'express';
import { z } from 'zod';
import { BadRequest } from '../errors/problems.js';
import { uuid } from './ids.js';

// zod's messages name the expected shape, not the received value. Paths and unknown keys do come
// from the request, though (a record key in clinical content, a stray field named after a person):
// only names shaped like field names are shown, anything else as `*`, so no input is echoed back.
const FIELD_NAME = /^[A-Za-z_$][A-Za-z0-9_$-]{0,63}$/;
const safeKey = (k: PropertyKey) => (typeof k === 'number' ? String(k) : typeof k === 'string' && FIELD_NAME.test(k) ? k : '*');

function issues(error: z.ZodError) {
  return error.issues.map((i) => ({
    path: i.path.map(safeKey).join('.') || '(root)',
    message: i.code === 'unrecognized_keys' ? `Unrecognized key${i.keys.length > 1 ? 's' : ''}: ${i.keys.map((k) => `"${safeKey(k)}"`).join(', ')}` : i.message,
  }));
}

/** How deep a JSON body may nest; clinical `content` is a shallow document, and a deeper one is refused before any parsing by schema. */
export const MAX_JSON_DEPTH = 32;

// A NUL cannot be stored in a PostgreSQL text or jsonb value, and a lone surrogate is not a
// character at all (it cannot be encoded as UTF-8): either is bad input, never a database error.
// In a `u` regex a well-formed surrogate pair is one code point, so \p{Cs} matches only lone halves.
const UNSTORABLE = /[\u0000\p{Cs}]/u;

/**
 * The first thing in a parsed JSON value (or a query or path) that no schema should ever see:
 * nesting deeper than `maxDepth`, or a string or key with a NUL or a lone surrogate. Walks with
 * its own stack, so a hostile depth can never exhaust the call stack. Undefined when clean.
 */
export function unsafeJson(value: unknown, maxDepth = MAX_JSON_DEPTH): { path: string; message: string } | undefined {
  const stack: { value: unknown; depth: number; path: PropertyKey[] }[] = [{ value, depth: 0, path: [] }];
  const at = (path: PropertyKey[]) => path.map(safeKey).join('.') || '(root)';
  while (stack.length) {
    const { value: v, depth, path } = stack.pop()!;
    if (typeof v === 'string') {
      if (UNSTORABLE.test(v)) return { path: at(path), message: 'must not contain NUL characters or unpaired surrogates' };
      continue;
    }
    if (v === null || typeof v !== 'object') continue;
    if (depth >= maxDepth) return { path: at(path.slice(0, 8)), message: `must not nest deeper than ${maxDepth} levels` };
    const entries: [PropertyKey, unknown][] = Array.isArray(v) ? v.map((x, i) => [i, x]) : Object.entries(v);
    for (const [k, x] of entries) {
      if (typeof k === 'string' && UNSTORABLE.test(k)) return { path: at(path), message: 'keys must not contain NUL characters or unpaired surrogates' };
      stack.push({ value: x, depth: depth + 1, path: [...path, k] });
    }
  }
  return undefined;
}

/** The parts of a request a route may declare a schema for. */
export interface InputSchemas {
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
}

/**
 * The parsed parts, or a 400 problem+json thrown. Every part is first checked by unsafeJson, the
 * body even where the route takes none, so that no route can pass a hostile value on to a
 * schema, a service or the database. A part without a schema is returned as sent.
 */
export function parseInput(schemas: InputSchemas, req: Request): { params: unknown; query: unknown; body: unknown } {
  for (const part of ['params', 'query', 'body'] as const) {
    const unsafe = unsafeJson(req[part]);
    if (unsafe) throw new BadRequest(`The request ${part} is invalid.`, [unsafe]);
  }
  const parsed = { params: req.params as unknown, query: req.query as unknown, body: req.body as unknown };
  for (const part of ['params', 'query', 'body'] as const) {
    const schema = schemas[part];
    if (!schema) continue;
    const result = schema.safeParse(part === 'body' ? (req.body ?? undefined) : req[part]);
    if (!result.success) throw new BadRequest(`The request ${part} is invalid.`, issues(result.error));
    parsed[part] = result.data;
  }
  return parsed;
}

/**
 * The same as middleware, for routes not declared with defineRoute: replaces req.body and puts
 * the validated params and query in res.locals, or answers 400 problem+json.
 */
export function validate(schemas: InputSchemas): RequestHandler {
  return (req, res, next) => {
    const parsed = parseInput(schemas, req);
    if (schemas.params) res.locals.params = parsed.params;
    if (schemas.query) res.locals.query = parsed.query;
    if (schemas.body) req.body = parsed.body;
    next();
  };
}

// zod writes a pattern beside a format in its own JSON Schema; the OpenAPI document keeps it, so
// that a client's validator refuses what the route refuses (formats are only annotations there).
const patternOf = (schema: z.ZodType) => (z.toJSONSchema(schema) as { pattern?: string }).pattern;

/** Re-exported beside the other input schemas; defined in ids.ts. */
export { uuid };
export const idParams = z.strictObject({ id: uuid });

/** A calendar date YYYY-MM-DD that exists (no 2024-02-30). */
export const isoDate = z.iso.date({ error: 'must be a date YYYY-MM-DD' }).meta({ pattern: patternOf(z.iso.date()) });
/** An ISO 8601 date-time with an offset. */
export const isoDateTime = z.iso
  .datetime({ offset: true, error: 'must be an ISO 8601 date-time' })
  .meta({ pattern: patternOf(z.iso.datetime({ offset: true })) });
/** Free text: trimmed, no control characters but newline and tab. */
export const text = (max: number) =>
  z
    .string()
    .trim()
    .min(1)
    .max(max)
    .refine((s) => !/[\u0000-\u0008\u000b-\u001f\u007f]/.test(s), 'must not contain control characters');
