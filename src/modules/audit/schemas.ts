import { z } from 'zod';
import { AUDIT_ACTIONS, DECISIONS } from '../../audit/vocabulary.js';
import { AGENCY_KINDS, TIERS } from '../../authz/vocabulary.js';
import { anyObject, at, Basis, id, oneOf, oneOfOrNull } from '../../http/shapes.js';
import { isoDateTime, text, uuid } from '../../http/validate.js';
import { DISCLOSURE_FORMATS } from './accounting-formats.js';

// What the /v1/audit routes take and answer (src/modules/audit/routes.ts); the console's
// compliance pages parse with the same schemas.

export const MAX_PAGE = 200;
export const MAX_CSV = 10_000;
const MAX_QUEUE = 200;

export const eventsQuery = z.strictObject({
  subject: uuid.optional(),
  actor: z.string().min(1).max(200).optional(),
  agency: z
    .string()
    .regex(/^[a-z0-9-]{2,64}$/)
    .optional(),
  action: z.enum(Object.values(AUDIT_ACTIONS) as [string, ...string[]]).optional(),
  decision: z.enum(DECISIONS).optional(),
  from: isoDateTime.optional(),
  to: isoDateTime.optional(),
  cursor: z
    .string()
    .regex(/^[0-9]{1,18}$/, 'must be a cursor from a previous page')
    .optional(),
  limit: z.coerce.number().int().min(1).max(MAX_PAGE).default(50),
  format: z.enum(['json', 'csv']).default('json'),
});

export const disclosuresQuery = z.strictObject({
  from: isoDateTime.optional(),
  to: isoDateTime.optional(),
  format: z.enum(DISCLOSURE_FORMATS).default('json'),
});

export const REVIEW_DECISIONS = ['justified', 'unjustified', 'needs-follow-up'] as const;
export const queueQuery = z.strictObject({
  status: z.enum(['awaiting', 'reviewed', 'all']).default('awaiting'),
  limit: z.coerce.number().int().min(1).max(MAX_QUEUE).default(50),
});
export const reviewBody = z.strictObject({ decision: z.enum(REVIEW_DECISIONS), note: text(2000).optional() });

const size = z.coerce.number().int().min(1);
export const proofQuery = z.strictObject({ treeSize: size.optional() });
export const consistencyQuery = z.strictObject({ from: size, to: size });

// Answers.

export const AuditEvent = z
  .object({
    id,
    at,
    actor: z.object({
      user: z.string().nullable(),
      userId: id.nullable(),
      agency: z.string().nullable(),
      role: z.string().nullable(),
      client: z.string().nullable(),
    }),
    subject: id.nullable(),
    action: z.string(),
    decision: oneOf(DECISIONS),
    tier: oneOfOrNull(TIERS),
    basis: z.array(Basis),
    breakGlass: z.boolean(),
    reason: z.string().nullable().optional(),
    requestId: z.string().optional(),
    clientRequestId: z.string().nullable().optional(),
    detail: anyObject.optional(),
  })
  .meta({ id: 'AuditEvent' });

export const Freshness = z
  .object({ source: z.enum(['primary', 'replica']), asOf: z.string().meta({ format: 'date-time' }).nullable(), caughtUp: z.boolean() })
  .meta({
    id: 'Freshness',
    description:
      "Where an audit answer was read (AUDIT_DATABASE_URL: a streaming replica) and as of when: the replica's last replayed commit. Also in the Audit-Source and Audit-As-Of headers.",
  });

export const AuditEventPage = z
  .object({
    events: z.array(AuditEvent),
    next: z.string().nullable().meta({ description: 'The cursor of the next page, or null on the last.' }),
    freshness: Freshness,
  })
  .meta({ id: 'AuditEventPage' });

export const Accounting = z
  .object({
    subject: id,
    from: at,
    to: at,
    disclosures: z.array(
      z.object({
        at,
        recipient: z.object({
          user: z.string().nullable(),
          userId: id.nullable(),
          agency: z.string().nullable(),
          agencyKind: z.enum(AGENCY_KINDS).nullable(),
          role: z.string().nullable(),
          client: z.string().nullable(),
        }),
        tier: z.enum(TIERS).nullable(),
        kinds: z.array(z.string()).optional(),
        purpose: z.string(),
        basis: z.array(Basis),
        breakGlass: z.boolean().optional(),
        action: z.string().optional(),
        disclosedBy: z.array(z.string()).optional(),
        eventId: id.optional(),
      }),
    ),
    freshness: Freshness,
  })
  .meta({ id: 'Accounting' });

export const FhirBundle = z
  .object({ resourceType: z.literal('Bundle'), type: z.string(), entry: z.array(anyObject).optional() })
  .meta({ id: 'FhirBundle', description: 'A FHIR R4 Bundle of AuditEvent resources.' });

export const BreakGlassReview = z
  .object({
    id,
    grantId: id,
    decision: oneOf(REVIEW_DECISIONS),
    note: z.string().nullable(),
    reviewer: z.object({ user: z.string(), userId: id }),
    reviewedAt: at,
  })
  .meta({ id: 'BreakGlassReview' });

export const BreakGlassQueue = z
  .object({
    status: z.enum(['awaiting', 'reviewed', 'all']),
    total: z.number().int(),
    grants: z.array(
      z.object({
        id,
        subjectId: id,
        user: z.object({ user: z.string(), userId: id }),
        agency: z.string(),
        tier: oneOf(TIERS),
        reason: z.string(),
        createdAt: at,
        expiresAt: at,
        active: z.boolean(),
        renewal: z.boolean(),
        renewalOf: id.nullable().meta({ description: 'The grant this one renewed (flagged for review).' }),
        accesses: z.number().int(),
        lastAccessAt: at.nullable(),
        reviews: z.array(
          z.object({
            id,
            decision: oneOf(REVIEW_DECISIONS),
            note: z.string().nullable(),
            reviewer: z.string().meta({ description: 'username' }),
            reviewedAt: at,
          }),
        ),
      }),
    ),
  })
  .meta({ id: 'BreakGlassQueue' });

export const Checkpoint = z
  .object({
    treeSize: z.number().int(),
    rootHash: z.string(),
    issuedAt: at,
    kid: z.string(),
    jws: z.string().meta({ description: 'The signed checkpoint (compact JWS), verifiable with /.well-known/jwks.json.' }),
  })
  .meta({ id: 'Checkpoint' });

export const ConsistencyProof = z.object({ from: Checkpoint, to: Checkpoint, proof: z.array(z.string()) }).meta({ id: 'ConsistencyProof' });

export const InclusionProof = z
  .object({ entryId: id, leafIndex: z.number().int(), leafHash: z.string(), checkpoint: Checkpoint, proof: z.array(z.string()) })
  .meta({ id: 'InclusionProof' });
