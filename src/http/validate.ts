import type { RequestHandler } from 'express';
import { z } from 'zod';
import { BadRequest } from '../errors/problems.js';

// zod's messages name the expected shape, not the received value, so no input is echoed back.
function issues(error: z.ZodError) {
  return error.issues.map((i) => ({ path: i.path.join('.') || '(root)', message: i.message }));
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
