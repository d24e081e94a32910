import { z } from 'zod';
import { ENTRY_KINDS, ENTRY_TIERS, RISK_SEVERITIES, SENSITIVE_CATEGORIES, SEXES } from '../../authz/vocabulary.js';
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
