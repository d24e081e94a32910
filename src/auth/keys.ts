import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { and, eq, inArray, lt } from 'drizzle-orm';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK, type CryptoKey } from 'jose';
import type { Executor } from '../db/client.js';
import { signingKeys } from '../db/schema/index.js';

export const SIGNING_ALG = 'ES256';

// AES-256-GCM envelope for private JWKs at rest: base64url(iv).base64url(tag).base64url(ciphertext).
export function sealSecret(plaintext: string, kek: Buffer): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', kek, iv);
  const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return [iv, cipher.getAuthTag(), ct].map((b) => b.toString('base64url')).join('.');
}

export function openSecret(sealed: string, kek: Buffer): string {
  const [iv, tag, ct] = sealed.split('.').map((p) => Buffer.from(p, 'base64url'));
  if (!iv || !tag || !ct) throw new Error('malformed sealed secret');
  const decipher = createDecipheriv('aes-256-gcm', kek, iv);
  decipher.setAuthTag(tag);
  return Buffer.concat([decipher.update(ct), decipher.final()]).toString('utf8');
}

/** Creates a new active ES256 key; the previous active key keeps verifying until `retireAfter`. */
export async function rotateSigningKey(db: Executor, kek: Buffer, maxTokenSeconds: number): Promise<string> {
  const { publicKey, privateKey } = await generateKeyPair(SIGNING_ALG, { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  const privateJwk = await exportJWK(privateKey);
  const now = new Date();
  await db.transaction(async (tx) => {
    await tx
      .update(signingKeys)
      .set({ status: 'retiring', retireAfter: new Date(now.getTime() + maxTokenSeconds * 1000 + 60_000) })
      .where(eq(signingKeys.status, 'active'));
    await tx.update(signingKeys).set({ status: 'retired' }).where(and(eq(signingKeys.status, 'retiring'), lt(signingKeys.retireAfter, now)));
    await tx.insert(signingKeys).values({
      kid,
      alg: SIGNING_ALG,
      publicJwk: { ...publicJwk, kid, alg: SIGNING_ALG, use: 'sig' },
      privateJwkEnc: sealSecret(JSON.stringify(privateJwk), kek),
      status: 'active',
    });
  });
  return kid;
}

interface VerificationKey {
  jwk: JWK;
  key: CryptoKey;
}

/**
 * The signing key and the verification keys, read from the database. Verification keys are
 * cached and re-read at most every `refreshMs`, so a key rotated by another instance is picked
 * up without a restart, and an unknown `kid` cannot make us hammer the database.
 */
export class KeyStore {
  private signer?: { kid: string; key: CryptoKey };
  private verifiers = new Map<string, VerificationKey>();
  private loadedAt = 0;

  constructor(
    private readonly db: Executor,
    private readonly kek: Buffer,
    private readonly refreshMs = 5_000,
  ) {}

  async load(): Promise<void> {
    const rows = await this.db.select().from(signingKeys).where(inArray(signingKeys.status, ['active', 'retiring']));
    const now = Date.now();
    const verifiers = new Map<string, VerificationKey>();
    for (const row of rows) {
      if (row.status === 'retiring' && row.retireAfter && row.retireAfter.getTime() < now) continue;
      const jwk = row.publicJwk as JWK;
      verifiers.set(row.kid, { jwk, key: (await importJWK(jwk, SIGNING_ALG)) as CryptoKey });
      if (row.status === 'active' && this.signer?.kid !== row.kid) {
        const priv = JSON.parse(openSecret(row.privateJwkEnc, this.kek)) as JWK;
        this.signer = { kid: row.kid, key: (await importJWK(priv, SIGNING_ALG)) as CryptoKey };
      }
    }
    if (this.signer && !verifiers.has(this.signer.kid)) this.signer = undefined;
    this.verifiers = verifiers;
    this.loadedAt = now;
  }

  hasSigningKey(): boolean {
    return this.signer !== undefined;
  }

  signingKey(): { kid: string; key: CryptoKey } {
    if (!this.signer) throw new Error('no active signing key');
    return this.signer;
  }

  /** Looks `kid` up among known keys only; re-reads the table when stale. */
  async verificationKey(kid: string): Promise<CryptoKey | undefined> {
    if (!this.verifiers.has(kid) && Date.now() - this.loadedAt > this.refreshMs) await this.load();
    return this.verifiers.get(kid)?.key;
  }

  jwks(): { keys: JWK[] } {
    return { keys: [...this.verifiers.values()].map((v) => v.jwk) };
  }
}
