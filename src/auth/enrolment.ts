import { createHash, randomBytes } from 'node:crypto';
import { and, eq, isNull } from 'drizzle-orm';
import type { Executor } from '../db/client.js';
import { recoveryCodes, users } from '../db/schema/index.js';
import { base32Encode } from './totp.js';

// Enrolment and recovery codes carry 50+ bits of randomness and are throttled, so a fast
// hash is enough; only the hash is stored.
export const hashCode = (code: string) => createHash('sha256').update(code.trim().toLowerCase()).digest('base64url');
const randomCode = () => {
  const s = base32Encode(randomBytes(7)).toLowerCase().slice(0, 10);
  return `${s.slice(0, 5)}-${s.slice(5)}`;
};
export const RECOVERY_CODE = /^[a-z2-7]{5}-[a-z2-7]{5}$/;
export const RECOVERY_CODE_COUNT = 10;

/** A one-time enrolment code for an invited user, valid for `hours`; returns the plaintext once. */
export async function issueEnrolmentCode(db: Executor, userId: string, hours = 72): Promise<string> {
  const code = `${randomCode()}-${randomCode()}`;
  await db
    .update(users)
    .set({
      enrolmentCodeHash: hashCode(code),
      enrolmentExpiresAt: new Date(Date.now() + hours * 3_600_000),
      totpEnrolledAt: null,
      totpSecretEnc: null,
      totpLastStep: null,
    })
    .where(eq(users.id, userId));
  return code;
}

/**
 * The compliance officer's half of an approved invitation: a second one-time code, stored only
 * hashed, without which the invited user cannot enrol. Extends the enrolment window by `hours`
 * from now, so a late approval does not leave the operator's code expired.
 */
export async function issueApprovalCode(db: Executor, userId: string, hours = 72): Promise<string> {
  const code = `${randomCode()}-${randomCode()}`;
  await db
    .update(users)
    .set({ enrolmentApprovalCodeHash: hashCode(code), enrolmentExpiresAt: new Date(Date.now() + hours * 3_600_000) })
    .where(eq(users.id, userId));
  return code;
}

/** Replaces a user's recovery codes; returns the plaintexts once. */
export async function issueRecoveryCodes(db: Executor, userId: string): Promise<string[]> {
  const codes = Array.from({ length: RECOVERY_CODE_COUNT }, randomCode);
  await db
    .update(recoveryCodes)
    .set({ usedAt: new Date() })
    .where(and(eq(recoveryCodes.userId, userId), isNull(recoveryCodes.usedAt)));
  await db.insert(recoveryCodes).values(codes.map((c) => ({ userId, codeHash: hashCode(c) })));
  return codes;
}

/** Spends one recovery code atomically; false if it is unknown or already used. */
export async function spendRecoveryCode(db: Executor, userId: string, code: string): Promise<boolean> {
  const spent = await db
    .update(recoveryCodes)
    .set({ usedAt: new Date() })
    .where(and(eq(recoveryCodes.userId, userId), eq(recoveryCodes.codeHash, hashCode(code)), isNull(recoveryCodes.usedAt)))
    .returning({ id: recoveryCodes.id });
  return spent.length === 1;
}
