import type { RequestHandler } from 'express';
import { z } from 'zod';
import { BadRequest } from '../errors/problems.js';

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

/** Replaces req.body / the validated query with the parsed value, or answers 400 problem+json. */
export function validate(schemas: { body?: z.ZodType; query?: z.ZodType; params?: z.ZodType }): RequestHandler {
  return (req, res, next) => {
    for (const part of ['params', 'query', 'body'] as const) {
      const schema = schemas[part];
      if (!schema) continue;
      const parsed = schema.safeParse(part === 'body' ? (req.body ?? undefined) : req[part]);
      if (!parsed.success) return next(new BadRequest(`The request ${part} is invalid.`, issues(parsed.error)));
      if (part === 'query') res.locals.query = parsed.data;
      else if (part === 'params') res.locals.params = parsed.data;
      else req.body = parsed.data;
    }
    next();
  };
}

export const uuid = z.uuid({ error: 'must be a UUID' });
export const idParams = z.strictObject({ id: uuid });

/** A calendar date YYYY-MM-DD that exists (no 2024-02-30). */
export const isoDate = z.iso.date({ error: 'must be a date YYYY-MM-DD' });
/** An ISO 8601 date-time with an offset. */
export const isoDateTime = z.iso.datetime({ offset: true, error: 'must be an ISO 8601 date-time' });
/** Free text: trimmed, no control characters but newline and tab. */
export const text = (max: number) =>
  z
    .string()
    .trim()
    .min(1)
    .max(max)
    .refine((s) => !/[\u0000-\u0008\u000b-\u001f\u007f]/.test(s), 'must not contain control characters');
