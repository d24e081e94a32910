import { hash, verify } from '@node-rs/argon2';

// OWASP's argon2id baseline (19 MiB, 2 passes, 1 lane). Algorithm 2 is Argon2id (a const enum upstream).
const OPTIONS = { algorithm: 2, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export const hashPassword = (password: string) => hash(password, OPTIONS);

/** Whether a user has ever set a password (an invited user's or a service user's placeholder is not one). */
export const hasPassword = (storedHash: string) => storedHash.startsWith('$argon2');

// Verified against when there is no password to check (unknown username, invited user, service
// user), so every check costs the same one argon2id verification.
let dummyHash: Promise<string> | undefined;

// argon2id verifications run by this process: the metric tiergate_password_verifications_total,
// and how tests prove that every answer cost exactly one.
let verifications = 0;
export const passwordVerifications = () => verifications;

/**
 * The one place a password is checked: exactly one argon2id verification, whatever is stored.
 * True only for a real hash that matches.
 */
export async function verifyPassword(storedHash: string | undefined, password: string): Promise<boolean> {
  const real = storedHash !== undefined && hasPassword(storedHash);
  dummyHash ??= hashPassword('tiergate-timing-equaliser');
  const target = real ? storedHash : await dummyHash;
  verifications++;
  const ok = await verify(target, password).catch(() => false);
  return ok && real;
}
