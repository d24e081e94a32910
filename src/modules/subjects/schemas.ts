import { z } from 'zod';
import { ENTRY_KINDS, ENTRY_TIERS, RISK_SEVERITIES, SENSITIVE_CATEGORIES, SEXES } from '../../authz/vocabulary.js';
import { isoDate, text, uuid } from '../../http/validate.js';

const pastDate = isoDate.refine((d) => d <= new Date().toISOString().slice(0, 10) && d >= '1900-01-01', 'must be a date between 1900-01-01 and today');

/** An agency's identifier value: letters, digits and simple separators, as record numbers are written. */
const identifierValue = z
  .string()
  .trim()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9 ./_-]*$/, 'must be letters, digits, spaces, dots, slashes, hyphens or underscores');
const agencySlug = z
  .string()
  .regex(/^[a-z0-9]+(-[a-z0-9]+)*$/, 'must be an agency slug like metro-police')
  .max(64);
export const identifier = z.strictObject({ system: agencySlug, value: identifierValue });
/** `system|value` in a query string, as FHIR token search writes it. */
const identifierToken = z
  .string()
  .max(140)
  .transform((v, ctx) => {
    const at = v.indexOf('|');
    const parsed = identifier.safeParse({ system: v.slice(0, at), value: v.slice(at + 1) });
    if (at < 0 || !parsed.success) {
      ctx.addIssue({ code: 'custom', message: 'must be system|value, for example metro-police|P-20931' });
      return z.NEVER;
    }
    return parsed.data;
  });

// A search names a person and their date of birth (never a name alone: a clerk never gets a list
// of everyone called John), or gives one agency identifier.
const byName = z.strictObject({ name: text(200), dob: pastDate });
export const searchQuery = byName;
const byIdentifier = z.strictObject({ identifier });
/**
 * By identifier when one is given, else by name: the errors are then those of the form the caller
 * meant (`dob` missing), not a union's "no option matched".
 */
function eitherTerms<A extends z.ZodType, B extends z.ZodType>(names: A, identifiers: B) {
  return z.unknown().transform((value, ctx): z.output<A> | z.output<B> => {
    const meant = value && typeof value === 'object' && 'identifier' in value ? identifiers : names;
    const parsed = meant.safeParse(value);
    if (parsed.success) return parsed.data as z.output<A> | z.output<B>;
    for (const issue of parsed.error.issues) ctx.addIssue({ ...issue, path: issue.path } as Parameters<typeof ctx.addIssue>[0]);
    return z.NEVER;
  });
}
export const searchRequestQuery = eitherTerms(byName, z.strictObject({ identifier: identifierToken }));
export const searchBody = eitherTerms(byName, byIdentifier);
/** The search body as the OpenAPI document describes it (the route's schema picks one of these). */
export const searchBodyDoc = z.union([byName, byIdentifier]);
export type SearchTerms = { name: string; dob: string } | { identifier: z.infer<typeof identifier> };

const person = {
  givenName: text(100),
  familyName: text(100),
  birthDate: pastDate,
  sex: z.enum(SEXES),
  /** The caller's own agency's identifiers for the person (system: the caller's agency). */
  identifiers: z.array(identifier).max(5).optional(),
};
/** What `POST /v1/subjects/match` takes: the body a creation would send. */
export const matchBody = z.strictObject(person);
export const createSubjectBody = z
  .strictObject({
    ...person,
    // "I have checked: this person is none of these" (every certain and probable candidate), and why.
    notDuplicateOf: z
      .array(uuid)
      .max(20)
      .transform((ids) => [...new Set(ids)])
      .optional(),
    reason: text(500).optional(),
  })
  .refine((b) => !b.notDuplicateOf?.length || (b.reason && b.reason.trim().length >= 10), {
    path: ['reason'],
    message: 'must say in words (at least 10 characters) why the person is none of notDuplicateOf',
  });
export type CreateSubject = z.infer<typeof createSubjectBody>;

export const addIdentifierBody = z.strictObject({ system: agencySlug, value: identifierValue });

export const createRiskFlagBody = z.strictObject({
  code: z
    .string()
    .regex(/^[a-z0-9]+(-[a-z0-9]+)*$/, 'must be a lowercase code like weapon-access')
    .max(64),
  severity: z.enum(RISK_SEVERITIES),
  note: text(2000).optional(),
});

/** Clinical content is an object of bounded size; its keys and values are the contributor's. */
const content = z.record(z.string().max(100), z.unknown()).refine((v) => JSON.stringify(v).length <= 32_000, 'must serialize to at most 32000 characters');

export const createEntryBody = z.strictObject({
  kind: z.enum(ENTRY_KINDS),
  tier: z.enum(ENTRY_TIERS),
  sensitivity: z
    .array(z.enum(SENSITIVE_CATEGORIES))
    .max(SENSITIVE_CATEGORIES.length)
    .default([])
    .transform((s) => [...new Set(s)]),
  summary: text(500),
  content: content.default({}),
});
