import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { and, eq, inArray, lt } from 'drizzle-orm';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK, type CryptoKey } from 'jose';
import type { Executor } from '../db/client.js';
import { signingKeys } from '../db/schema/index.js';

export const SIGNING_ALG = 'ES256';

// AES-256-GCM envelope for secrets at rest: base64url(iv).base64url(tag).base64url(ciphertext).
// `aad`, when given, binds the ciphertext to its context (a row's key): opened elsewhere it fails.
export function sealSecret(plaintext: string, kek: Buffer, aad?: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', kek, iv);
  if (aad !== undefined) cipher.setAAD(Buffer.from(aad, 'utf8'));
  const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return [iv, cipher.getAuthTag(), ct].map((b) => b.toString('base64url')).join('.');
}

export function openSecret(sealed: string, kek: Buffer, aad?: string): string {
  const [iv, tag, ct] = sealed.split('.').map((p) => Buffer.from(p, 'base64url'));
  if (!iv || !tag || !ct) throw new Error('malformed sealed secret');
  const decipher = createDecipheriv('aes-256-gcm', kek, iv);
  if (aad !== undefined) decipher.setAAD(Buffer.from(aad, 'utf8'));
  decipher.setAuthTag(tag);
  return Buffer.concat([decipher.update(ct), decipher.final()]).toString('utf8');
}

/**
 * A 32-byte key for one purpose, derived from the key-encryption key with HKDF-SHA256 (RFC 5869),
 * so each use (console sessions, their CSRF tokens, their cookie signature) has its own key and
 * no new secret to keep.
 */
export function deriveSubkey(kek: Buffer, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', kek, Buffer.alloc(0), `tiergate ${purpose}`, 32));
}

/** How long a new key sits in the JWKS before it signs: the JWKS max-age plus a margin. */
export const DEFAULT_PUBLISH_DELAY_SECONDS = 120;

/**
 * Rotation with overlap: the new key is published at once and signs from `activatesAt`; the keys
 * it replaces keep verifying until every token they could have signed has expired.
 */
export async function rotateSigningKey(db: Executor, kek: Buffer, maxTokenSeconds: number, publishDelaySeconds = 0): Promise<string> {
  const { publicKey, privateKey } = await generateKeyPair(SIGNING_ALG, { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  const privateJwk = await exportJWK(privateKey);
  const now = new Date();
  const activatesAt = new Date(now.getTime() + publishDelaySeconds * 1000);
  await db.transaction(async (tx) => {
    await tx
      .update(signingKeys)
      .set({ status: 'retired' })
      .where(and(eq(signingKeys.status, 'retiring'), lt(signingKeys.retireAfter, now)));
    await tx
      .update(signingKeys)
      .set({ status: 'retiring', retireAfter: new Date(activatesAt.getTime() + (maxTokenSeconds + 60) * 1000) })
      .where(eq(signingKeys.status, 'active'));
    await tx.insert(signingKeys).values({
      kid,
      alg: SIGNING_ALG,
      publicJwk: { ...publicJwk, kid, alg: SIGNING_ALG, use: 'sig' },
      privateJwkEnc: sealSecret(JSON.stringify(privateJwk), kek),
      status: 'active',
      activatesAt,
    });
  });
  return kid;
}

interface StoredKey {
  kid: string;
  jwk: JWK;
  key: CryptoKey;
  activatesAt: number;
  retireAfter?: number;
  privateJwkEnc: string;
  privateKey?: CryptoKey;
}

/**
 * The signing key and the verification keys, read from the database and re-read at most every
 * `refreshMs`, so a key rotated by another instance is picked up without a restart and an unknown
 * `kid` cannot make us hammer the database. The signer is the newest key whose time has come.
 */
export class KeyStore {
  private stored: StoredKey[] = [];
  private loadedAt = 0;

  constructor(
    private readonly db: Executor,
    private readonly kek: Buffer,
    private readonly refreshMs = 5_000,
  ) {}

  async load(): Promise<void> {
    const rows = await this.db
      .select()
      .from(signingKeys)
      .where(inArray(signingKeys.status, ['active', 'retiring']));
    const previous = new Map(this.stored.map((k) => [k.kid, k]));
    const stored: StoredKey[] = [];
    for (const row of rows) {
      const jwk = row.publicJwk as JWK;
      stored.push({
        kid: row.kid,
        jwk,
        key: previous.get(row.kid)?.key ?? ((await importJWK(jwk, SIGNING_ALG)) as CryptoKey),
        activatesAt: row.activatesAt.getTime(),
        retireAfter: row.retireAfter?.getTime(),
        privateJwkEnc: row.privateJwkEnc,
        privateKey: previous.get(row.kid)?.privateKey,
      });
    }
    this.stored = stored;
    this.loadedAt = Date.now();
  }

  private async refreshIfStale(): Promise<void> {
    if (Date.now() - this.loadedAt > this.refreshMs) await this.load();
  }

  private live(now = Date.now()): StoredKey[] {
    return this.stored.filter((k) => k.retireAfter === undefined || k.retireAfter > now);
  }

  private signer(now = Date.now()): StoredKey | undefined {
    return this.live(now)
      .filter((k) => k.activatesAt <= now && (k.retireAfter === undefined || k.retireAfter > now))
      .sort((a, b) => b.activatesAt - a.activatesAt)[0];
  }

  hasSigningKey(): boolean {
    return this.signer() !== undefined;
  }

  /** The key to sign with now; its private half is decrypted on first use. */
  async signingKey(): Promise<{ kid: string; key: CryptoKey }> {
    await this.refreshIfStale();
    const k = this.signer();
    if (!k) throw new Error('no active signing key');
    k.privateKey ??= (await importJWK(JSON.parse(openSecret(k.privateJwkEnc, this.kek)) as JWK, SIGNING_ALG)) as CryptoKey;
    return { kid: k.kid, key: k.privateKey };
  }

  /** Looks `kid` up among known, unretired keys only; re-reads the table when stale. */
  async verificationKey(kid: string): Promise<CryptoKey | undefined> {
    if (!this.live().some((k) => k.kid === kid)) await this.refreshIfStale();
    return this.live().find((k) => k.kid === kid)?.key;
  }

  /** The JWKS as published: re-reads the table when stale, so an idle instance shows a rotation too. */
  async publishedJwks(): Promise<{ keys: JWK[] }> {
    await this.refreshIfStale();
    return this.jwks();
  }

  jwks(): { keys: JWK[] } {
    return { keys: this.live().map((k) => k.jwk) };
  }
}
