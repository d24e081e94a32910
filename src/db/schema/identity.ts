import { sql } from 'drizzle-orm';
import { check, integer, jsonb, pgTable, primaryKey, text, timestamp, uuid } from 'drizzle-orm/pg-core';

export const agencies = pgTable(
  'agencies',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    slug: text('slug').notNull().unique(),
    name: text('name').notNull(),
    kind: text('kind').notNull(),
    disabledAt: timestamp('disabled_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [check('agencies_kind_check', sql`${t.kind} in ('police', 'mental_health', 'hospital', 'gateway')`)],
);

export const users = pgTable('users', {
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
  disabledAt: timestamp('disabled_at', { withTimezone: true }),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
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
export const clients = pgTable('clients', {
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
  disabledAt: timestamp('disabled_at', { withTimezone: true }),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
});

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
