import { Router, type Request } from 'express';
import { and, eq, gt } from 'drizzle-orm';
import { z } from 'zod';
import type { AppDeps } from '../../app.js';
import { hashCode, issueRecoveryCodes } from '../../auth/enrolment.js';
import { openSecret, sealSecret } from '../../auth/keys.js';
import { hashPassword } from '../../auth/passwords.js';
import { accountKey, addressKey, lockedFor, recordFailure, THROTTLE } from '../../auth/throttle.js';
import { generateTotpSecret, otpauthUri, verifyTotp } from '../../auth/totp.js';
import { AUDIT_ACTIONS as A, type AuditAction } from '../../audit/vocabulary.js';
import { users } from '../../db/schema/index.js';
import { OAuthError } from '../../errors/problems.js';
import { parseGrant } from './issue.js';

const code = z.string().regex(/^[a-z2-7]{5}-[a-z2-7]{5}-[a-z2-7]{5}-[a-z2-7]{5}$/);
export const start = z.strictObject({ username: z.string().min(1).max(200), enrolment_code: code, password: z.string().min(12).max(1024) });
export const confirm = z.strictObject({ username: z.string().min(1).max(200), enrolment_code: code, otp: z.string().regex(/^[0-9]{6}$/) });

/**
 * Second-factor enrolment for an invited user, with the one-time code an admin handed over:
 * POST /oauth/enrol sets the password and returns a new TOTP secret and recovery codes;
 * POST /oauth/enrol/confirm proves the authenticator works, which completes enrolment and
 * spends the code. Wrong codes are throttled like logins and never say what was wrong.
 */
export function enrolmentRouter(deps: AppDeps): Router {
  const { db, config, runner } = deps;
  const router = Router();

  async function invitedUser(req: Request, action: AuditAction, username: string, enrolmentCode: string) {
    const keys = [accountKey(username), addressKey(req.ip)];
    const wait = await lockedFor(db, keys);
    if (wait > 0) throw new OAuthError('temporarily_unavailable', 'Too many failed attempts; try again later.', 429, wait);
    const [user] = await db
      .select()
      .from(users)
      .where(and(eq(users.username, username), eq(users.enrolmentCodeHash, hashCode(enrolmentCode)), gt(users.enrolmentExpiresAt, new Date())))
      .limit(1);
    if (!user || user.disabledAt) {
      await recordFailure(db, [
        { key: keys[0]!, limit: THROTTLE.accountLimit },
        { key: keys[1]!, limit: THROTTLE.addressLimit },
      ]);
      await runner.deny({ requestId: req.id, action, decision: 'deny', reason: 'enrolment-code-invalid', detail: { username } });
      throw new OAuthError('invalid_grant', 'The enrolment code is not valid.');
    }
    return user;
  }

  router.post('/', async (req, res) => {
    const input = parseGrant(start, req.body);
    const user = await invitedUser(req, A.mfaEnrol, input.username, input.enrolment_code);
    const secret = generateTotpSecret();
    const recovery = await db.transaction(async (tx) => {
      await tx
        .update(users)
        .set({ passwordHash: await hashPassword(input.password), totpSecretEnc: sealSecret(secret, config.keyEncryptionKey), totpEnrolledAt: null, totpLastStep: null })
        .where(eq(users.id, user.id));
      return issueRecoveryCodes(tx, user.id);
    });
    await runner.record({ requestId: req.id, action: A.mfaEnrol, decision: 'allow', detail: { userId: user.id } });
    res.set('Cache-Control', 'no-store').json({ totp_secret: secret, otpauth_uri: otpauthUri(secret, user.username), recovery_codes: recovery });
  });

  router.post('/confirm', async (req, res) => {
    const input = parseGrant(confirm, req.body);
    const user = await invitedUser(req, A.mfaConfirm, input.username, input.enrolment_code);
    const step = user.totpSecretEnc ? verifyTotp(openSecret(user.totpSecretEnc, config.keyEncryptionKey), input.otp, null) : undefined;
    if (step === undefined) {
      await runner.deny({ requestId: req.id, action: A.mfaConfirm, decision: 'deny', reason: 'otp-invalid', detail: { userId: user.id } });
      throw new OAuthError('invalid_grant', 'The one-time password is not valid.');
    }
    await db.update(users).set({ totpEnrolledAt: new Date(), totpLastStep: step, enrolmentCodeHash: null, enrolmentExpiresAt: null }).where(eq(users.id, user.id));
    await runner.record({ requestId: req.id, action: A.mfaConfirm, decision: 'allow', detail: { userId: user.id } });
    res.set('Cache-Control', 'no-store').json({ enrolled: true });
  });

  return router;
}
