import type { Request } from 'express';
import { and, eq, isNull, lt, or } from 'drizzle-orm';
import { z } from 'zod';
import type { AppDeps } from '../../deps.js';
import { RECOVERY_CODE, spendRecoveryCode } from '../../auth/enrolment.js';
import { openSecret } from '../../auth/keys.js';
import { verifyPassword } from '../../auth/passwords.js';
import { attemptSucceeded, reserveAttempt } from '../../auth/throttle.js';
import { verifyTotp } from '../../auth/totp.js';
import type { AgencyKind } from '../../authz/vocabulary.js';
import { agencies, users } from '../../db/schema/index.js';
import { OAuthError } from '../../errors/problems.js';
import { issueToken, parseGrant, refuseGrant, type TokenResponse } from './issue.js';

export const body = z.strictObject({
  grant_type: z.literal('password'),
  username: z.string().min(1).max(200),
  password: z.string().min(1).max(1024),
  // A TOTP code, or a single-use recovery code when the authenticator is lost.
  otp: z.union([z.string().regex(/^[0-9]{6}$/), z.string().regex(RECOVERY_CODE)]).optional(),
  scope: z.string().max(200).optional(),
});

/**
 * grant_type=password. Enforces, in order: strict fields; a throttle reservation on the account
 * and the client address, taken before any secret is checked (429 with Retry-After when either is
 * spent); exactly one argon2id verification whatever the account (unknown, invited, service user,
 * disabled), so the answer's time says nothing about it; an active person (not a service user) in
 * an active agency; the second factor (required for every user outside demo mode, and for any
 * enrolled user) with replay refused. A refusal keeps its reservation (that is its count) and is
 * logged; the answer never says which check failed. A refusal for the lock costs no
 * verification: its keys are the submitted username and the address, whatever exists, so a 429
 * tells nothing about the account, and skipping argon2 there keeps a lock from costing CPU.
 */
export async function passwordGrant(deps: AppDeps, req: Request): Promise<TokenResponse> {
  const { db, config } = deps;
  const input = parseGrant(body, req.body);
  const reservation = await reserveAttempt(db, input.username, req.ip);
  if ('retryAfter' in reservation) {
    return refuseGrant(
      deps,
      req,
      'throttled',
      { username: input.username },
      new OAuthError('temporarily_unavailable', 'Too many failed attempts; try again later.', 429, reservation.retryAfter),
    );
  }

  const [row] = await db
    .select({ user: users, agency: agencies })
    .from(users)
    .innerJoin(agencies, eq(agencies.id, users.agencyId))
    .where(eq(users.username, input.username))
    .limit(1);
  const passwordOk = await verifyPassword(row?.user.passwordHash, input.password);
  const refusal = await (async () => {
    if (!row || !passwordOk) return 'bad-credentials';
    if (row.user.disabledAt || row.agency.disabledAt) return 'disabled';
    if (row.user.kind !== 'person') return 'not-a-person';
    // An operator's invitation into a partner agency signs in only once compliance approved it.
    if (row.user.approval !== 'approved') return 'approval-pending';
    const mfaRequired = row.user.totpEnrolledAt !== null || !config.demoMode;
    if (!mfaRequired) return undefined;
    if (!row.user.totpEnrolledAt || !row.user.totpSecretEnc) return 'mfa-not-enrolled';
    if (!input.otp) return 'otp-missing';
    if (RECOVERY_CODE.test(input.otp)) return (await spendRecoveryCode(db, row.user.id, input.otp)) ? undefined : 'recovery-code-invalid';
    const secret = openSecret(row.user.totpSecretEnc, config.keyEncryptionKey);
    const step = verifyTotp(secret, input.otp, row.user.totpLastStep);
    if (step === undefined) return verifyTotp(secret, input.otp, null) === undefined ? 'otp-invalid' : 'otp-replayed';
    // Claim the step atomically: two concurrent logins with one code cannot both pass.
    const claimed = await db
      .update(users)
      .set({ totpLastStep: step })
      .where(and(eq(users.id, row.user.id), or(isNull(users.totpLastStep), lt(users.totpLastStep, step))))
      .returning({ id: users.id });
    return claimed.length === 1 ? undefined : 'otp-replayed';
  })();

  if (refusal || !row) return refuseGrant(deps, req, refusal ?? 'bad-credentials', { username: input.username });
  await attemptSucceeded(db, reservation.attempt);
  const amr = !row.user.totpEnrolledAt ? ['pwd'] : RECOVERY_CODE.test(input.otp ?? '') ? ['pwd', 'mfa'] : ['pwd', 'otp', 'mfa'];
  return issueToken(
    deps,
    req,
    {
      userId: row.user.id,
      username: row.user.username,
      agencyId: row.agency.id,
      agency: row.agency.slug,
      agencyKind: row.agency.kind as AgencyKind,
      role: row.user.role,
    },
    amr,
  );
}
