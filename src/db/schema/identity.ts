import { sql } from 'drizzle-orm';
import { boolean, check, index, integer, jsonb, pgTable, primaryKey, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';

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
    disabledAt: timestamp('disabled_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [check('users_approval_check', sql`${t.approval} in ('pending', 'approved', 'rejected')`)],
);

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

/** What an operator may ask for that takes effect only once a compliance officer approves it. */
export const APPROVAL_KINDS = ['user.invite', 'user.role', 'client.register', 'client.users'] as const;

/**
 * The approvals queue (four eyes, two roles): an operator's invitation into a partner agency,
 * a partner user's role change, a partner client's registration and a client's on-behalf-of
 * list wait here until a compliance officer approves or rejects them. `change` holds what the
 * request changes (a role, user ids), never secrets.
 */
export const approvals = pgTable(
  'approvals',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    kind: text('kind').notNull(),
    status: text('status').notNull().default('pending'),
    agencyId: uuid('agency_id')
      .notNull()
      .references(() => agencies.id),
    userId: uuid('user_id').references(() => users.id),
    clientId: uuid('client_id').references(() => clients.id),
    change: jsonb('change').notNull().default({}),
    // The operator's user id over HTTP; null from the CLI, whose operator is named instead.
    requestedBy: uuid('requested_by').references(() => users.id),
    requestedByName: text('requested_by_name').notNull(),
    requestedAt: timestamp('requested_at', { withTimezone: true }).notNull().defaultNow(),
    decidedBy: uuid('decided_by').references(() => users.id),
    decidedAt: timestamp('decided_at', { withTimezone: true }),
    note: text('note'),
  },
  (t) => [
    check('approvals_kind_check', sql`${t.kind} in ('user.invite', 'user.role', 'client.register', 'client.users')`),
    check('approvals_status_check', sql`${t.status} in ('pending', 'approved', 'rejected')`),
    check('approvals_target_check', sql`(${t.userId} is null) <> (${t.clientId} is null)`),
    // One open request per thing: a second role change while one waits is refused.
    uniqueIndex('approvals_pending_user_idx')
      .on(t.kind, t.userId)
      .where(sql`${t.status} = 'pending' and ${t.userId} is not null`),
    uniqueIndex('approvals_pending_client_idx')
      .on(t.kind, t.clientId)
      .where(sql`${t.status} = 'pending' and ${t.clientId} is not null`),
    index('approvals_status_idx').on(t.status, t.requestedAt),
  ],
);
