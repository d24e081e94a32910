import { z } from 'zod';
import { ENTRY_KINDS, ENTRY_TIERS, RISK_SEVERITIES, SENSITIVE_CATEGORIES, SEXES, TIERS } from '../../authz/vocabulary.js';
import { anyObject, at, Basis, id, oneOf } from '../../http/shapes.js';
import { isoDate, text } from '../../http/validate.js';

const pastDate = isoDate.refine((d) => d <= new Date().toISOString().slice(0, 10) && d >= '1900-01-01', 'must be a date between 1900-01-01 and today');

export const searchQuery = z.strictObject({
  name: text(200),
  dob: pastDate,
});

export const createSubjectBody = z.strictObject({
  givenName: text(100),
  familyName: text(100),
  birthDate: pastDate,
  sex: z.enum(SEXES),
});

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

// What the person routes answer (documented now; typed when the routes are declared with defineRoute).

export const SubjectSummary = z
  .object({ id, givenName: z.string(), familyName: z.string(), birthDate: z.string().meta({ format: 'date' }), sex: oneOf(SEXES) })
  .meta({ id: 'SubjectSummary' });

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
      z.object({ riskFlags: z.array(RiskFlag), entries: z.array(Entry).meta({ description: 'Only entries of the granted tiers and released categories.' }) }),
    ),
    access: Access,
  })
  .meta({ id: 'SubjectRecord' });

export const SubjectSearchResult = z.object({ subjects: z.array(SubjectSummary), truncated: z.boolean() });
export const CreatedSubject = z.intersection(SubjectSummary, z.object({ createdAt: at }));
export const RiskFlags = z.object({ riskFlags: z.array(RiskFlag) });
