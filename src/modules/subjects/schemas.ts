import { z } from 'zod';
import { ENTRY_KINDS, ENTRY_TIERS, RISK_SEVERITIES, SENSITIVE_CATEGORIES, SEXES, TIERS } from '../../authz/vocabulary.js';
import { anyObject, at, Basis, id, oneOf, Problem } from '../../http/shapes.js';
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
const content = z
  .record(z.string().max(100), z.unknown())
  .refine((v) => JSON.stringify(v).length <= 32_000, 'must serialize to at most 32000 characters')
  // The registry drops a record's key schema; the document states it as zod's own JSON Schema does.
  .meta({ propertyNames: { type: 'string', maxLength: 100 } });

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

// What the person routes answer: they type the handlers' answers and document them (src/http/route.ts).

export const SubjectSummary = z
  .object({ id, givenName: z.string(), familyName: z.string(), birthDate: z.string().meta({ format: 'date' }), sex: oneOf(SEXES) })
  .meta({ id: 'SubjectSummary' });

export const Identifier = z.object({ system: z.string(), value: z.string() }).meta({
  id: 'Identifier',
  description: 'An agency identifier; `system` is the issuing agency. One issued by a 42 CFR Part 2 program is shown only inside it.',
});

export const IdentifierAdded = z.object({ id, subjectId: id, system: z.string(), value: z.string() }).meta({ id: 'IdentifierAdded' });

/** A person in a list of candidates or results: how well it matches and what tells look-alikes apart. */
export const Candidate = z
  .intersection(
    SubjectSummary,
    z.object({
      grade: z.enum(['certain', 'probable', 'possible']),
      score: z.number().min(0).max(1),
      reasons: z.array(z.string()),
      identifiers: z.array(Identifier),
      addedBy: z.string(),
      contributingAgencies: z.array(z.string()),
      riskFlagCount: z.number().int(),
    }),
  )
  .meta({ id: 'Candidate' });

export const SearchResults = z.object({ subjects: z.array(Candidate), truncated: z.boolean() }).meta({ id: 'SearchResults' });
export const MatchResults = z.object({ candidates: z.array(Candidate) });

export const RiskFlag = z
  .object({
    id,
    subjectId: id.optional(),
    code: z.string(),
    severity: oneOf(RISK_SEVERITIES),
    note: z.string().nullable(),
    contributedBy: z.string(),
    createdAt: at,
  })
  .meta({ id: 'RiskFlag' });

export const Entry = z
  .object({
    id,
    subjectId: id.optional(),
    kind: oneOf(ENTRY_KINDS),
    tier: oneOf(ENTRY_TIERS),
    sensitivity: z.array(oneOf(SENSITIVE_CATEGORIES)),
    summary: z.string(),
    content: anyObject,
    contributedBy: z.string(),
    createdAt: at,
  })
  .meta({ id: 'Entry' });

export const Notice = z
  .object({ code: z.literal('42-cfr-2.32'), statement: z.union([z.literal(1), z.literal(2)]).meta({ type: 'integer', enum: [1, 2] }), text: z.string() })
  .meta({ id: 'Notice', description: 'The 42 CFR 2.32 redisclosure notice (2024 text); statement 1 names the bar on use against the patient.' });

export const Access = z.object({ tier: z.enum(TIERS), basis: z.array(Basis), withheld: z.array(z.enum(TIERS)), notices: z.array(Notice).optional() }).meta({
  id: 'Access',
  description:
    'The highest tier of what the response carries, on what basis (per tier), and the tiers withheld (by name only, never whether data exists). `notices` appears when a 42 CFR Part 2 record of another agency is carried.',
});

export const SubjectRecord = z
  .object({
    subject: z.intersection(
      SubjectSummary,
      z.object({
        identifiers: z.array(Identifier),
        riskFlags: z.array(RiskFlag),
        entries: z.array(Entry).meta({ description: 'Only entries of the granted tiers and released categories.' }),
      }),
    ),
    access: Access,
  })
  .meta({ id: 'SubjectRecord' });

export const CreatedSubject = z.intersection(SubjectSummary, z.object({ createdAt: at, identifiers: z.array(Identifier) }));
export const RiskFlags = z.object({ riskFlags: z.array(RiskFlag) });

/** 409 `possible-duplicate`: the problem, with the candidates that refused the creation (logged as shown). */
export const PossibleDuplicate = z.intersection(Problem, z.object({ candidates: z.array(Candidate).optional() }));

// The search's terms as the document states them: the routes' schemas pick one form by what was
// sent (searchRequestQuery, searchBody), which neither OpenAPI parameters nor a union's errors say well.
/** The query string: `name` with `dob`, or `identifier` alone. */
export const searchQueryDoc = searchQuery.partial().extend({
  identifier: z.string().max(140).optional().describe('system|value, for example metro-police|P-20931; instead of name and dob'),
});
/** The body: the same terms. */
export const searchBodyDoc = z.union([byName, byIdentifier]);
