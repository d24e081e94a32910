import { z } from 'zod';
import { AGENCY_KINDS, ENTRY_TIERS, SENSITIVE_CATEGORIES } from '../../authz/vocabulary.js';
import { anyObject, at, id, oneOf } from '../../http/shapes.js';
import { isoDateTime, text } from '../../http/validate.js';

const PARTNER_KINDS = ['police', 'mental_health', 'hospital'] as const;

const recipient = z.union([
  z.strictObject({ agency: z.string().regex(/^[a-z0-9-]{2,64}$/, 'must be an agency slug') }),
  z.strictObject({ agencyKind: z.enum(PARTNER_KINDS) }),
]);

const agencySlug = z.string().regex(/^[a-z0-9-]{2,64}$/, 'must be an agency slug');

// PostgreSQL keeps any year, but years before 1000 do not survive the drivers' date parsing
// (0050 comes back as 1950), and no consent predates this program: refuse them plainly.
const consentDateTime = isoDateTime.refine((d) => {
  const year = Number(d.slice(0, 4));
  return year >= 2000 && year <= 2999;
}, 'must be a date-time between the years 2000 and 2999');

export const createConsentBody = z
  .strictObject({
    recipients: z.array(recipient).min(1).max(50),
    // Whose entries the consent releases: for now only, and by default, the recording
    // clinician's own agency (checked in the service, which knows the caller).
    disclosers: z.array(agencySlug).min(1).max(1).optional(),
    // Consent can open the intermediate tier only: the full tier belongs to open-case members.
    tiers: z
      .array(z.enum(ENTRY_TIERS))
      .min(1)
      .refine((t) => !t.includes('full'), 'the full tier is granted by open-case membership, not by consent')
      .transform((t) => [...new Set(t)]),
    sensitiveCategories: z
      .array(z.enum(SENSITIVE_CATEGORIES))
      .default([])
      .transform((s) => [...new Set(s)]),
    purpose: z
      .string()
      .regex(/^[a-z0-9]+(-[a-z0-9]+)*$/, 'must be a purpose code like care-coordination')
      .max(64),
    validFrom: consentDateTime.optional(),
    validUntil: consentDateTime.optional(),
    evidence: z
      .strictObject({ form: z.enum(['written', 'verbal']), witness: text(200).optional(), reference: text(200).optional() })
      .refine((e) => e.form !== 'verbal' || e.witness, { message: 'verbal consent needs a witness', path: ['witness'] }),
  })
  .refine((c) => !c.validFrom || !c.validUntil || Date.parse(c.validUntil) > Date.parse(c.validFrom), {
    message: 'must be after validFrom',
    path: ['validUntil'],
  });

export const revokeConsentBody = z.strictObject({ reason: text(500) });

// What the consent routes answer.

export const Consent = z
  .object({
    id,
    subjectId: id,
    status: z.enum(['active', 'pending', 'expired', 'revoked']),
    disclosers: z.array(z.string()).meta({ description: 'The agencies whose entries the consent releases (for now: the recording agency).' }),
    recipients: z.array(z.union([z.object({ agency: z.string() }), z.object({ agencyKind: oneOf(AGENCY_KINDS) })])),
    tiers: z.array(oneOf(ENTRY_TIERS)),
    sensitiveCategories: z.array(oneOf(SENSITIVE_CATEGORIES)),
    purpose: z.string(),
    validFrom: at,
    validUntil: at.nullable(),
    evidence: anyObject,
    createdAt: at,
    revokedAt: at.nullable(),
    revocationReason: z.string().nullable(),
  })
  .meta({ id: 'Consent' });
