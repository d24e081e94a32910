import { sql } from 'drizzle-orm';
import { boolean, check, index, integer, jsonb, pgTable, primaryKey, text, timestamp, uniqueIndex, uuid, type AnyPgColumn } from 'drizzle-orm/pg-core';

export const agencies = pgTable(
  'agencies',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    slug: text('slug').notNull().unique(),
    name: text('name').notNull(),
    kind: text('kind').notNull(),
    // A 42 CFR Part 2 program: the identifiers it issues are never shown outside it (2.13(c)).
    part2Program: boolean('part2_program').notNull().default(false),
    disabledAt: timestamp('disabled_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [check('agencies_kind_check', sql`${t.kind} in ('police', 'mental_health', 'hospital', 'gateway')`)],
);

/**
 * Whether a compliance officer has approved an account or a client (SPEC principle 10): an
 * operator's invitation into a partner agency, or registration of a partner's client, is
 * `pending` until then and cannot sign in or get a token; `rejected` never will. Rows that
 * predate approvals, seeded ones and gateway-agency accounts are `approved`.
 */
export const APPROVAL_STATES = ['pending', 'approved', 'rejected'] as const;

export const users = pgTable(
  'users',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    username: text('username').notNull().unique(),
    agencyId: uuid('agency_id')
      .notNull()
      .references(() => agencies.id),
    role: text('role').notNull(),
    // 'person' logs in with password and TOTP; 'service' stands for a machine client and never logs in.
    kind: text('kind').notNull().default('person'),
    passwordHash: text('password_hash').notNull(),
    // TOTP secret, encrypted under KEY_ENCRYPTION_KEY; set at enrolment, required outside demo mode.
    totpSecretEnc: text('totp_secret_enc'),
    totpEnrolledAt: timestamp('totp_enrolled_at', { withTimezone: true }),
    // The last accepted TOTP time step, so a code cannot be replayed within its window.
    totpLastStep: integer('totp_last_step'),
    // One-time enrolment code (hashed) handed to an invited user out of band.
    enrolmentCodeHash: text('enrolment_code_hash'),
    enrolmentExpiresAt: timestamp('enrolment_expires_at', { withTimezone: true }),
    // The compliance officer's half of an approved invitation's enrolment (hashed): enrolment
    // needs it and the operator's code both, so neither the operator nor the approver alone can
    // enrol as the user and choose their password.
    enrolmentApprovalCodeHash: text('enrolment_approval_code_hash'),
    approval: text('approval').notNull().default('approved'),
    // Why this account may decide approvals while its role audits (SPEC principle 14): the
    // deployment's one bootstrap auditor, an approval an existing compliance officer decided
    // (`approverApprovalId`), or an account that already audited when the rule came in. Null:
    // it may not decide, whatever its role.
    approverBasis: text('approver_basis'),
    approverApprovalId: uuid('approver_approval_id').references((): AnyPgColumn => approvals.id),
    disabledAt: timestamp('disabled_at', { withTimezone: true }),
    // Tokens whose sign-in (`auth_time`) is older fail from the next request: set when an MFA
    // reset, a role change or a disable ends the user's sessions (src/auth/user-sessions.ts).
    tokensValidAfter: timestamp('tokens_valid_after', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    check('users_approval_check', sql`${t.approval} in ('pending', 'approved', 'rejected')`),
    check(
      'users_approver_basis_check',
      sql`(${t.approverBasis} is null and ${t.approverApprovalId} is null) or (${t.approverBasis} = 'approval' and ${t.approverApprovalId} is not null) or (${t.approverBasis} in ('bootstrap', 'pre-existing') and ${t.approverApprovalId} is null)`,
    ),
  ],
);

/** Why an account may decide approvals; see `users.approverBasis`. */
export const APPROVER_BASES = ['bootstrap', 'approval', 'pre-existing'] as const;

/**
 * Steps a deployment takes once and never again: `first-auditor`, the one auditing account
 * created without approval because nobody could approve it yet. Append-only: a disabled or
 * demoted auditor never re-opens it.
 */
export const bootstrapSteps = pgTable('bootstrap_steps', {
  step: text('step').primaryKey(),
  userId: uuid('user_id').references(() => users.id),
  at: timestamp('at', { withTimezone: true }).notNull().defaultNow(),
});

/** Single-use recovery codes for a lost second factor; only hashes are stored. */
export const recoveryCodes = pgTable('recovery_codes', {
  id: uuid('id').primaryKey().defaultRandom(),
  userId: uuid('user_id')
    .notNull()
    .references(() => users.id),
  codeHash: text('code_hash').notNull(),
  usedAt: timestamp('used_at', { withTimezone: true }),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
});

/** Failed-login counters per account and per client address, shared by every gateway instance. */
export const loginThrottle = pgTable('login_throttle', {
  key: text('key').primaryKey(),
  failures: integer('failures').notNull().default(0),
  windowStart: timestamp('window_start', { withTimezone: true }).notNull().defaultNow(),
  lockedUntil: timestamp('locked_until', { withTimezone: true }),
});

/** Machine clients (a CAD, an EHR): RFC 7523 private_key_jwt with a registered public JWK set. */
export const clients = pgTable(
  'clients',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    clientId: text('client_id').notNull().unique(),
    agencyId: uuid('agency_id')
      .notNull()
      .references(() => agencies.id),
    // The service user the client acts as when it names no user: carries its role and agency.
    serviceUserId: uuid('service_user_id')
      .notNull()
      .references(() => users.id),
    jwks: jsonb('jwks').notNull(),
    // The person users of its agency it may act for (`on_behalf_of`); set only through an approval.
    allowedUserIds: uuid('allowed_user_ids')
      .array()
      .notNull()
      .default(sql`'{}'::uuid[]`),
    approval: text('approval').notNull().default('approved'),
    disabledAt: timestamp('disabled_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [check('clients_approval_check', sql`${t.approval} in ('pending', 'approved', 'rejected')`)],
);

/** Client-assertion ids already accepted, kept until the assertion expires (replay defence). */
export const clientAssertions = pgTable(
  'client_assertions',
  {
    clientId: text('client_id').notNull(),
    jti: text('jti').notNull(),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.clientId, t.jti] })],
);

/** Token-signing keys; the private JWK is stored encrypted under KEY_ENCRYPTION_KEY. */
export const signingKeys = pgTable(
  'signing_keys',
  {
    kid: text('kid').primaryKey(),
    alg: text('alg').notNull(),
    publicJwk: jsonb('public_jwk').notNull(),
    privateJwkEnc: text('private_jwk_enc').notNull(),
    status: text('status').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    // Published in the JWKS first; signs only from this time, once verifiers have fetched it.
    activatesAt: timestamp('activates_at', { withTimezone: true }).notNull().defaultNow(),
    // A retiring key stays in the JWKS until every token it signed has expired.
    retireAfter: timestamp('retire_after', { withTimezone: true }),
  },
  (t) => [check('signing_keys_status_check', sql`${t.status} in ('active', 'retiring', 'retired')`)],
);

export const revokedTokens = pgTable('revoked_tokens', {
  jti: text('jti').primaryKey(),
  expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
  revokedAt: timestamp('revoked_at', { withTimezone: true }).notNull().defaultNow(),
});

/**
 * The kinds of four-eyes request (see src/modules/approvals/kinds.ts for what each does). Users,
 * clients and agencies are their targets today; merges and agreements will add their own.
 */
export const APPROVAL_KINDS = [
  'user.invite',
  'user.role',
  'user.mfa-reset',
  'user.disable',
  'client.register',
  'client.users',
  'client.disable',
  'agency.disable',
] as const;

/**
 * When a request's change happens: `on-approval` waits for the decision (a rejection leaves
 * things as they were); `at-once` only takes rights away, so it happens when asked and the
 * decision is a review (approve: agreed; reject: disagreed, for the program to act on).
 */
export const APPROVAL_EFFECTS = ['on-approval', 'at-once'] as const;

/**
 * The approvals queue (four eyes, SPEC principles 10 and 14): what an operator asks for that a
 * compliance officer approves or reviews. `change` holds what the request changes (a role, user
 * ids), never secrets. A request names at most one user or client; an agency's own request
 * names neither.
 */
export const approvals = pgTable(
  'approvals',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    kind: text('kind').notNull(),
    status: text('status').notNull().default('pending'),
    effect: text('effect').notNull().default('on-approval'),
    agencyId: uuid('agency_id').references(() => agencies.id),
    userId: uuid('user_id').references((): AnyPgColumn => users.id),
    clientId: uuid('client_id').references(() => clients.id),
    change: jsonb('change').notNull().default({}),
    // The operator who asked: over HTTP the admin, at the CLI the operator named with --operator.
    // Null only on requests from before that rule, which can no longer be decided.
    requestedBy: uuid('requested_by').references((): AnyPgColumn => users.id),
    requestedByName: text('requested_by_name').notNull(),
    requestedAt: timestamp('requested_at', { withTimezone: true }).notNull().defaultNow(),
    decidedBy: uuid('decided_by').references((): AnyPgColumn => users.id),
    decidedAt: timestamp('decided_at', { withTimezone: true }),
    note: text('note'),
  },
  (t) => [
    check(
      'approvals_kind_check',
      sql`${t.kind} in ('user.invite', 'user.role', 'user.mfa-reset', 'user.disable', 'client.register', 'client.users', 'client.disable', 'agency.disable')`,
    ),
    check('approvals_status_check', sql`${t.status} in ('pending', 'approved', 'rejected')`),
    check('approvals_effect_check', sql`${t.effect} in ('on-approval', 'at-once')`),
    check('approvals_target_check', sql`num_nonnulls(${t.userId}, ${t.clientId}) <= 1`),
    // One waiting request per thing: a second role change while one waits is refused. Reviews of
    // what already happened may pile up (each reset is its own event).
    uniqueIndex('approvals_pending_user_idx')
      .on(t.kind, t.userId)
      .where(sql`${t.status} = 'pending' and ${t.effect} = 'on-approval' and ${t.userId} is not null`),
    uniqueIndex('approvals_pending_client_idx')
      .on(t.kind, t.clientId)
      .where(sql`${t.status} = 'pending' and ${t.effect} = 'on-approval' and ${t.clientId} is not null`),
    index('approvals_status_idx').on(t.status, t.requestedAt),
  ],
);
