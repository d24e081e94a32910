import { AGENCY_KINDS, ENTRY_KINDS, ENTRY_TIERS, RISK_SEVERITIES, SENSITIVE_CATEGORIES, SEXES, TIERS } from '../authz/vocabulary.js';
import { DECISIONS } from '../audit/vocabulary.js';
import { REVIEW_DECISIONS } from '../modules/audit/break-glass-review.js';
import { APPROVAL_EFFECTS, APPROVAL_KINDS } from '../db/schema/index.js';

// What the gateway answers, as components of the OpenAPI document (src/http/openapi.ts): SPEC's
// core shapes and the rest, written by hand because the services build their answers by hand.
// SPEC lets the code add fields, so no shape is closed; test/integration/openapi.test.ts checks
// real answers against them.

export type Json = Record<string, unknown>;

export const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
export const string = { type: 'string' };
export const id = { type: 'string', format: 'uuid' };
export const at = { type: 'string', format: 'date-time' };
export const nullable = (schema: Json) => ({ anyOf: [schema, { type: 'null' }] });
export const enumOf = (values: readonly string[]) => ({ type: 'string', enum: [...values] });
export const list = (items: Json) => ({ type: 'array', items });
/** Response objects: SPEC lets the code add fields, so none is closed. */
export const object = (properties: Record<string, Json>, required: string[] = Object.keys(properties)) => ({ type: 'object', properties, required });

export const responseSchemas: Record<string, Json> = {
  Problem: {
    ...object(
      {
        type: { type: 'string', format: 'uri' },
        title: string,
        status: { type: 'integer' },
        detail: string,
        instance: { type: 'string', description: 'urn:uuid: of the request id' },
        errors: list(object({ path: string, message: string })),
      },
      ['type', 'title', 'status'],
    ),
    description: 'RFC 9457 problem details. `detail` and `errors` name fields and rules, never the submitted values.',
  },
  OAuthError: object(
    {
      error: enumOf([
        'invalid_request',
        'invalid_grant',
        'invalid_client',
        'unsupported_grant_type',
        'unauthorized_client',
        'server_error',
        'temporarily_unavailable',
      ]),
      error_description: string,
    },
    ['error'],
  ),
  TokenResponse: object({ access_token: string, token_type: { const: 'Bearer' }, expires_in: { type: 'integer' } }),
  JwkSet: object({ keys: list({ type: 'object' }) }),
  Basis: object({ rule: string, tier: enumOf(TIERS), consentId: id, caseId: id, breakGlassId: id }, ['rule']),
  Notice: {
    ...object({ code: { const: '42-cfr-2.32' }, statement: { type: 'integer', enum: [1, 2] }, text: string }),
    description: 'The 42 CFR 2.32 redisclosure notice (2024 text); statement 1 names the bar on use against the patient.',
  },
  Access: {
    ...object({ tier: enumOf(TIERS), basis: list(ref('Basis')), withheld: list(enumOf(TIERS)), notices: list(ref('Notice')) }, ['tier', 'basis', 'withheld']),
    description:
      'The highest tier of what the response carries, on what basis (per tier), and the tiers withheld (by name only, never whether data exists). `notices` appears when a 42 CFR Part 2 record of another agency is carried.',
  },
  SubjectSummary: object({ id, givenName: string, familyName: string, birthDate: { type: 'string', format: 'date' }, sex: enumOf(SEXES) }),
  Identifier: {
    ...object({ system: string, value: string }),
    description: 'An agency identifier; `system` is the issuing agency. One issued by a 42 CFR Part 2 program is shown only inside it.',
  },
  IdentifierAdded: object({ id, subjectId: id, system: string, value: string }),
  // A person in a list of candidates or results: how well it matches and what tells look-alikes apart.
  Candidate: {
    allOf: [
      ref('SubjectSummary'),
      object({
        grade: enumOf(['certain', 'probable', 'possible']),
        score: { type: 'number', minimum: 0, maximum: 1 },
        reasons: list(string),
        identifiers: list(ref('Identifier')),
        addedBy: string,
        contributingAgencies: list(string),
        riskFlagCount: { type: 'integer' },
      }),
    ],
  },
  SearchResults: object({ subjects: list(ref('Candidate')), truncated: { type: 'boolean' } }),
  RiskFlag: object({ id, subjectId: id, code: string, severity: enumOf(RISK_SEVERITIES), note: nullable(string), contributedBy: string, createdAt: at }, [
    'id',
    'code',
    'severity',
    'note',
    'contributedBy',
    'createdAt',
  ]),
  Entry: object(
    {
      id,
      subjectId: id,
      kind: enumOf(ENTRY_KINDS),
      tier: enumOf(ENTRY_TIERS),
      sensitivity: list(enumOf(SENSITIVE_CATEGORIES)),
      summary: string,
      content: { type: 'object' },
      contributedBy: string,
      createdAt: at,
    },
    ['id', 'kind', 'tier', 'sensitivity', 'summary', 'content', 'contributedBy', 'createdAt'],
  ),
  SubjectRecord: object({
    subject: {
      allOf: [
        ref('SubjectSummary'),
        object({
          identifiers: list(ref('Identifier')),
          riskFlags: list(ref('RiskFlag')),
          entries: { ...list(ref('Entry')), description: 'Only entries of the granted tiers and released categories.' },
        }),
      ],
    },
    access: ref('Access'),
  }),
  Consent: object({
    id,
    subjectId: id,
    status: enumOf(['active', 'pending', 'expired', 'revoked']),
    disclosers: { ...list(string), description: 'The agencies whose entries the consent releases (for now: the recording agency).' },
    recipients: list({ anyOf: [object({ agency: string }), object({ agencyKind: enumOf(AGENCY_KINDS) })] }),
    tiers: list(enumOf(ENTRY_TIERS)),
    sensitiveCategories: list(enumOf(SENSITIVE_CATEGORIES)),
    purpose: string,
    validFrom: at,
    validUntil: nullable(at),
    evidence: { type: 'object' },
    createdAt: at,
    revokedAt: nullable(at),
    revocationReason: nullable(string),
  }),
  CaseMember: object({ userId: id, username: string, agency: string, role: string, addedAt: at }),
  Case: object(
    {
      id,
      subjectId: id,
      title: string,
      status: enumOf(['open', 'closed']),
      createdAt: at,
      closedAt: nullable(at),
      members: list(ref('CaseMember')),
      participants: { ...list(object({ agency: string, joinedAt: at })), description: 'The agencies that brought their records into the case.' },
    },
    ['id', 'subjectId', 'title', 'status'],
  ),
  BreakGlassGrant: object(
    { id, subjectId: id, tier: enumOf(TIERS), expiresAt: at, renewalOf: { ...id, description: 'A renewal: the live grant it renews.' } },
    ['id', 'subjectId', 'tier', 'expiresAt'],
  ),
  AuditEvent: object(
    {
      id,
      at,
      actor: object({ user: nullable(string), userId: nullable(id), agency: nullable(string), role: nullable(string), client: nullable(string) }),
      subject: nullable(id),
      action: string,
      decision: enumOf(DECISIONS),
      tier: nullable(enumOf(TIERS)),
      basis: list(ref('Basis')),
      breakGlass: { type: 'boolean' },
      reason: nullable(string),
      requestId: string,
      clientRequestId: nullable(string),
      detail: { type: 'object' },
    },
    ['id', 'at', 'actor', 'subject', 'action', 'decision', 'tier', 'basis', 'breakGlass'],
  ),
  Freshness: {
    ...object({ source: enumOf(['primary', 'replica']), asOf: nullable(at), caughtUp: { type: 'boolean' } }),
    description:
      "Where an audit answer was read (AUDIT_DATABASE_URL: a streaming replica) and as of when: the replica's last replayed commit. Also in the Audit-Source and Audit-As-Of headers.",
  },
  AuditEventPage: object({
    events: list(ref('AuditEvent')),
    next: { ...nullable(string), description: 'The cursor of the next page, or null on the last.' },
    freshness: ref('Freshness'),
  }),
  Accounting: object({
    subject: id,
    from: at,
    to: at,
    disclosures: list(
      object(
        {
          at,
          recipient: object({
            user: nullable(string),
            userId: nullable(id),
            agency: nullable(string),
            agencyKind: nullable(enumOf(AGENCY_KINDS)),
            role: nullable(string),
            client: nullable(string),
          }),
          tier: nullable(enumOf(TIERS)),
          kinds: list(string),
          purpose: string,
          basis: list(ref('Basis')),
          breakGlass: { type: 'boolean' },
          action: string,
          disclosedBy: list(string),
          eventId: id,
        },
        ['at', 'recipient', 'tier', 'purpose', 'basis'],
      ),
    ),
    freshness: ref('Freshness'),
  }),
  FhirBundle: {
    ...object({ resourceType: { const: 'Bundle' }, type: string, entry: list({ type: 'object' }) }, ['resourceType', 'type']),
    description: 'A FHIR R4 Bundle of AuditEvent resources.',
  },
  BreakGlassReview: object({
    id,
    grantId: id,
    decision: enumOf(REVIEW_DECISIONS),
    note: nullable(string),
    reviewer: object({ user: string, userId: id }),
    reviewedAt: at,
  }),
  BreakGlassQueue: object({
    status: enumOf(['awaiting', 'reviewed', 'all']),
    total: { type: 'integer' },
    grants: list(
      object({
        id,
        subjectId: id,
        user: object({ user: string, userId: id }),
        agency: string,
        tier: enumOf(TIERS),
        reason: string,
        createdAt: at,
        expiresAt: at,
        active: { type: 'boolean' },
        renewal: { type: 'boolean' },
        renewalOf: { ...nullable(id), description: 'The grant this one renewed (flagged for review).' },
        accesses: { type: 'integer' },
        lastAccessAt: nullable(at),
        reviews: list(
          object({ id, decision: enumOf(REVIEW_DECISIONS), note: nullable(string), reviewer: { ...string, description: 'username' }, reviewedAt: at }),
        ),
      }),
    ),
  }),
  Checkpoint: object({
    treeSize: { type: 'integer' },
    rootHash: string,
    issuedAt: at,
    kid: string,
    jws: { ...string, description: 'The signed checkpoint (compact JWS), verifiable with /.well-known/jwks.json.' },
  }),
  ConsistencyProof: object({ from: ref('Checkpoint'), to: ref('Checkpoint'), proof: list(string) }),
  InclusionProof: object({ entryId: id, leafIndex: { type: 'integer' }, leafHash: string, checkpoint: ref('Checkpoint'), proof: list(string) }),
  Agency: object({ id, slug: string, name: string, kind: enumOf(AGENCY_KINDS), part2Program: { type: 'boolean' }, disabledAt: nullable(at), createdAt: at }),
  User: object({
    id,
    username: string,
    agency: string,
    role: string,
    kind: enumOf(['person', 'service']),
    approval: enumOf(['pending', 'approved', 'rejected']),
    mfaEnrolled: { type: 'boolean' },
    enrolmentPending: { type: 'boolean' },
    disabledAt: nullable(at),
    createdAt: at,
  }),
  Invitation: {
    allOf: [
      ref('User'),
      object(
        {
          enrolmentCode: { ...string, description: 'Shown once.' },
          enrolmentExpiresAt: at,
          approvalId: { ...id, description: 'Into a partner agency: the request a compliance officer must approve first.' },
        },
        ['enrolmentCode', 'enrolmentExpiresAt'],
      ),
    ],
  },
  PendingRole: { allOf: [ref('User'), object({ pendingRole: string, approvalId: id })] },
  PendingReset: {
    allOf: [ref('User'), object({ approvalId: { ...id, description: 'An approver’s reset waits for another compliance officer, who hands over the code.' } })],
  },
  Reviewed: object({ approvalId: { ...id, description: 'Took effect at once; queued for a compliance officer’s review.' } }, []),
  PendingClientUsers: { allOf: [ref('Client'), object({ pendingAllowedUserIds: list(id), approvalId: id })] },
  Approval: object(
    {
      id,
      kind: enumOf([...APPROVAL_KINDS]),
      status: enumOf(['pending', 'approved', 'rejected']),
      effect: {
        ...enumOf([...APPROVAL_EFFECTS]),
        description: '`on-approval`: happens only when approved. `at-once`: already happened (it only took rights away); the decision is a review.',
      },
      agency: nullable(string),
      user: object({ user: nullable(string), userId: id }),
      client: string,
      change: { type: 'object' },
      requestedBy: object({ user: string, userId: nullable(id) }),
      requestedAt: at,
      decidedBy: nullable(object({ user: nullable(string), userId: id })),
      decidedAt: nullable(at),
      note: nullable(string),
      approvalCode: { ...string, description: 'An approved invitation only: the second half of the enrolment, shown once.' },
      enrolmentCode: {
        ...string,
        description: 'An approved second-factor reset only: the code the user re-enrols with (with their current password), shown once.',
      },
    },
    ['id', 'kind', 'status', 'effect', 'agency', 'change', 'requestedBy', 'requestedAt', 'decidedBy', 'decidedAt', 'note'],
  ),
  Client: object({
    id,
    clientId: string,
    agency: string,
    role: string,
    serviceUserId: id,
    approval: enumOf(['pending', 'approved', 'rejected']),
    allowedUserIds: { ...list(id), description: 'The people it may act for (on_behalf_of), as approved.' },
    disabledAt: nullable(at),
    createdAt: at,
    keys: list(object({ kid: string, kty: string, alg: string }, [])),
  }),
  SigningKey: object({ kid: string, alg: string, status: string, createdAt: at, activatesAt: at, retireAfter: nullable(at) }),
  KeyRotation: { allOf: [ref('SigningKey'), object({ publishDelaySeconds: { type: 'integer' }, keys: list(ref('SigningKey')) })] },
};
