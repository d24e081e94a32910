import { z } from 'zod';

// The one definition of a UUID: zod's (RFC 9562: a version 1-8 and the variant bits, or the nil
// and max UUIDs), which is also what `format: uuid` says in the OpenAPI document. Every id the
// gateway makes comes from gen_random_uuid(). Any case is accepted; ids are compared lower-case.
const UUID = z.regexes.uuid();

/**
 * A UUID in any case, normalised to lower case at the boundary (the log and jsonb compare ids as
 * text). The OpenAPI document carries the pattern beside the format, so that a client's validator
 * refuses what the route refuses (formats are only annotations there).
 */
export const uuid = z.uuid({ error: 'must be a UUID' }).toLowerCase().meta({ pattern: UUID.source });

/** Whether a string is a UUID (any case), for ids that arrive outside a zod schema. */
export const isUuid = (s: string): boolean => UUID.test(s);

/** The pattern without its anchors, to match a UUID inside a path (case-insensitively). */
export const UUID_PATTERN = UUID.source.slice(1, -1);
