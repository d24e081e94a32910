import { z } from 'zod';
import { TIERS } from '../authz/vocabulary.js';

// Pieces of the answers that several modules share, in zod: they type what a handler returns and
// document it (src/http/route.ts). SPEC lets the code add fields, so no answer object is strict.
// Each module's own answers sit beside its routes, in modules/<name>/schemas.ts.

/** A timestamp as the services hold it (a Date), sent as an ISO 8601 date-time. */
export const at = z.date().meta({ format: 'date-time' });
/** An id as the services hold it, a UUID. */
export const id = z.string().meta({ format: 'uuid' });
/** A JSON object whose members the document does not list. */
export const anyObject = z.record(z.string(), z.unknown()).meta({ type: 'object' });

/** A string the database holds as text but checks against these values: typed as a string, documented as the enum. */
export const oneOf = (values: readonly string[]) => z.string().meta({ enum: [...values] });
/** The same, or null (null must be among the enum's values too, or a validator refuses it). */
export const oneOfOrNull = (values: readonly string[]) =>
  z
    .string()
    .nullable()
    .meta({ enum: [...values, null] });

/** RFC 9457 problem details: what every /v1 refusal answers. */
export const Problem = z
  .object({
    type: z.string().meta({ format: 'uri' }),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().optional(),
    instance: z.string().meta({ description: 'urn:uuid: of the request id' }).optional(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .meta({ id: 'Problem', description: 'RFC 9457 problem details. `detail` and `errors` name fields and rules, never the submitted values.' });

/** One reason a tier was released: the rule, and the consent, case or grant it rests on. */
export const Basis = z
  .object({ rule: z.string(), tier: oneOf(TIERS).optional(), consentId: id.optional(), caseId: id.optional(), breakGlassId: id.optional() })
  .meta({ id: 'Basis' });

/** A public JWK set (RFC 7517). */
export const JwkSet = z.object({ keys: z.array(anyObject) }).meta({ id: 'JwkSet' });
