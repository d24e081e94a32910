import { Router, type Request } from 'express';
import { and, eq, gt } from 'drizzle-orm';
import { z } from 'zod';
import type { AppDeps } from '../../deps.js';
import { hashCode, issueRecoveryCodes } from '../../auth/enrolment.js';
import { openSecret, sealSecret } from '../../auth/keys.js';
import { hashPassword, hasPassword, verifyPassword } from '../../auth/passwords.js';
import { attemptSucceeded, releaseAttempt, reserveAttempt, type Attempt } from '../../auth/throttle.js';
import { generateTotpSecret, otpauthUri, verifyTotp } from '../../auth/totp.js';
import { appendAccessLog } from '../../audit/append.js';
import { AUDIT_ACTIONS as A, type AuditAction } from '../../audit/vocabulary.js';
import type { Tx } from '../../db/client.js';
import { errorSummary } from '../../logger.js';
import { agencies, users } from '../../db/schema/index.js';
import { OAuthError } from '../../errors/problems.js';
import { parseGrant } from './issue.js';

const code = z.string().regex(/^[a-z2-7]{5}-[a-z2-7]{5}-[a-z2-7]{5}-[a-z2-7]{5}$/);
/**
 * `password`: a new one (12 characters or more) for a user who never had one; for a user whose
 * second factor an admin reset, their current password, which enrolment proves and never changes.
 * `approval_code`: the compliance officer's half of an approved invitation into a partner agency.
 */
export const start = z.strictObject({
  username: z.string().min(1).max(200),
  enrolment_code: code,
  approval_code: code.optional(),
  password: z.string().min(1).max(1024),
});
const NEW_PASSWORD_MIN = 12;
export const confirm = z.strictObject({ username: z.string().min(1).max(200), enrolment_code: code, otp: z.string().regex(/^[0-9]{6}$/) });

/**
 * Second-factor enrolment for an invited user, with the one-time code an admin handed over (and,
 * into a partner agency, the code the approving compliance officer handed over: neither alone
 * enrols). POST /oauth/enrol sets the password of a user who never had one, or proves the
 * current password of one whose second factor was reset (SPEC principle 10: an operator never
 * chooses a partner user's password), and returns a new TOTP secret and recovery codes;
 * POST /oauth/enrol/confirm proves the authenticator works, which completes enrolment and
 * spends the code. Each step reserves a throttle attempt (account and address, as sign-in does)
 * before it checks a code or password; wrong codes, passwords and first TOTP codes keep theirs,
 * and never say what was wrong. Each change commits with its log entry, or not at all (503).
 */
export function enrolmentSteps(deps: AppDeps) {
  const { db, config, runner, logger } = deps;

  /** Runs the change and appends its log entry in one transaction; fails closed. */
  async function loggedChange<T>(req: Request, action: AuditAction, userId: string, change: (tx: Tx) => Promise<T>): Promise<T> {
    try {
      return await db.transaction(async (tx) => {
        const result = await change(tx);
        await appendAccessLog(tx, { requestId: req.id, action, decision: 'allow', detail: { userId } });
        return result;
      });
    } catch (err) {
      logger.error({ requestId: req.id, action, err: errorSummary(err) }, 'enrolment not completed');
      throw new OAuthError('temporarily_unavailable');
    }
  }

  /** Reserves the attempt before any code is checked, or refuses it (429, logged). */
  async function reserve(req: Request, action: AuditAction, username: string): Promise<Attempt> {
    const reservation = await reserveAttempt(db, username, req.ip);
    if ('attempt' in reservation) return reservation.attempt;
    await logDenial(req, action, 'throttled', { username });
    throw new OAuthError('temporarily_unavailable', 'Too many failed attempts; try again later.', 429, reservation.retryAfter);
  }

  /** A refusal's log entry; a refusal that cannot be logged is answered 503 (fails closed). */
  async function logDenial(req: Request, action: AuditAction, reason: string, detail: Record<string, unknown>) {
    await runner.deny({ requestId: req.id, action, decision: 'deny', reason, detail }).catch(() => {
      throw new OAuthError('temporarily_unavailable');
    });
  }

  /** Logs a refusal and answers; the reservation stands as the failure's count. */
  async function refuse(req: Request, action: AuditAction, reason: string, detail: Record<string, unknown>): Promise<never> {
    await logDenial(req, action, reason, detail);
    throw new OAuthError('invalid_grant', 'The enrolment code is not valid.');
  }

  /** The invited user whose unexpired enrolment code this is, if any. */
  async function invitation(username: string, enrolmentCode: string) {
    const [row] = await db
      .select({ user: users, agencyKind: agencies.kind })
      .from(users)
      .innerJoin(agencies, eq(agencies.id, users.agencyId))
      .where(and(eq(users.username, username), eq(users.enrolmentCodeHash, hashCode(enrolmentCode)), gt(users.enrolmentExpiresAt, new Date())))
      .limit(1);
    return row;
  }

  async function invitedUser(req: Request, action: AuditAction, username: string, row: Awaited<ReturnType<typeof invitation>>) {
    if (!row || row.user.disabledAt) return refuse(req, action, 'enrolment-code-invalid', { username });
    // Not before a compliance officer approved the invitation (the answer does not say so).
    if (row.user.approval !== 'approved') return refuse(req, action, 'approval-pending', { userId: row.user.id });
    return { ...row.user, agencyKind: row.agencyKind };
  }

  /** Checks the invited user's code, sets the password and a new TOTP secret; returns them once. */
  async function startStep(req: Request, input: z.infer<typeof start>) {
    const attempt = await reserve(req, A.mfaEnrol, input.username);
    const row = await invitation(input.username, input.enrolment_code);
    // One argon2id verification on every attempt (against the dummy hash when there is no
    // password to prove), so a right code does not answer more slowly than a wrong one.
    const passwordOk = await verifyPassword(row?.user.passwordHash, input.password);
    const user = await invitedUser(req, A.mfaEnrol, input.username, row);
    let passwordHash: string;
    if (hasPassword(user.passwordHash)) {
      // Re-enrolment after a reset: the user proves the password they have; it stays as it is.
      if (!passwordOk) return refuse(req, A.mfaEnrol, 'password-invalid', { userId: user.id });
      passwordHash = user.passwordHash;
    } else {
      // A first enrolment into a partner agency needs the approver's half as well as the operator's code.
      const needsApprovalCode = user.enrolmentApprovalCodeHash !== null || user.agencyKind !== 'gateway';
      if (needsApprovalCode && (!input.approval_code || user.enrolmentApprovalCodeHash !== hashCode(input.approval_code))) {
        return refuse(req, A.mfaEnrol, 'approval-code-invalid', { userId: user.id });
      }
      if (input.password.length < NEW_PASSWORD_MIN) {
        // The codes were right: a short new password is a mistake to correct, not a guess.
        await releaseAttempt(db, attempt);
        throw new OAuthError('invalid_request', `A new password needs at least ${NEW_PASSWORD_MIN} characters.`);
      }
      passwordHash = await hashPassword(input.password);
    }
    const secret = generateTotpSecret();
    const recovery = await loggedChange(req, A.mfaEnrol, user.id, async (tx) => {
      await tx
        .update(users)
        .set({ passwordHash, totpSecretEnc: sealSecret(secret, config.keyEncryptionKey), totpEnrolledAt: null, totpLastStep: null })
        .where(eq(users.id, user.id));
      return issueRecoveryCodes(tx, user.id);
    });
    await attemptSucceeded(db, attempt);
    return { totp_secret: secret, otpauth_uri: otpauthUri(secret, user.username), recovery_codes: recovery };
  }

  /** Proves the authenticator works: completes enrolment and spends the code. */
  async function confirmStep(req: Request, input: z.infer<typeof confirm>) {
    const attempt = await reserve(req, A.mfaConfirm, input.username);
    const user = await invitedUser(req, A.mfaConfirm, input.username, await invitation(input.username, input.enrolment_code));
    const step = user.totpSecretEnc ? verifyTotp(openSecret(user.totpSecretEnc, config.keyEncryptionKey), input.otp, null) : undefined;
    if (step === undefined) {
      await logDenial(req, A.mfaConfirm, 'otp-invalid', { userId: user.id });
      throw new OAuthError('invalid_grant', 'The one-time password is not valid.');
    }
    await loggedChange(req, A.mfaConfirm, user.id, (tx) =>
      tx
        .update(users)
        .set({ totpEnrolledAt: new Date(), totpLastStep: step, enrolmentCodeHash: null, enrolmentApprovalCodeHash: null, enrolmentExpiresAt: null })
        .where(eq(users.id, user.id)),
    );
    await attemptSucceeded(db, attempt);
    return { enrolled: true as const };
  }

  return { start: startStep, confirm: confirmStep };
}

/** POST /oauth/enrol and /oauth/enrol/confirm (the console's enrolment pages call the same steps). */
export function enrolmentRouter(deps: AppDeps): Router {
  const steps = enrolmentSteps(deps);
  const router = Router();

  router.post('/', async (req, res) => {
    res.set('Cache-Control', 'no-store').json(await steps.start(req, parseGrant(start, req.body)));
  });

  router.post('/confirm', async (req, res) => {
    res.set('Cache-Control', 'no-store').json(await steps.confirm(req, parseGrant(confirm, req.body)));
  });

  return router;
}
