import { asc, eq, inArray } from 'drizzle-orm';
import { DEFAULT_PUBLISH_DELAY_SECONDS, rotateSigningKey } from '../../auth/keys.js';
import type { AuditScope } from '../../audit/audited.js';
import { signingKeys } from '../../db/schema/index.js';

export interface KeySettings {
  /** Encrypts new signing keys at rest. */
  keyEncryptionKey: Buffer;
  /** Longest access-token lifetime, so a replaced key verifies until its last token expires. */
  tokenTtlSeconds: number;
}

// Kids and lifecycle only: the private key (encrypted at rest) is never selected.
const keyColumns = {
  kid: signingKeys.kid,
  alg: signingKeys.alg,
  status: signingKeys.status,
  createdAt: signingKeys.createdAt,
  activatesAt: signingKeys.activatesAt,
  retireAfter: signingKeys.retireAfter,
};

/** The gateway's token-signing keys: list and rotate. */
export class KeyAdmin {
  constructor(private readonly settings: KeySettings) {}

  async list({ tx, note }: AuditScope) {
    const rows = await tx.select(keyColumns).from(signingKeys).orderBy(asc(signingKeys.createdAt));
    note({ detail: { count: rows.length } });
    return { keys: rows };
  }

  /**
   * Rotates with overlap: the new key is published at once and signs after the publish delay
   * (every verifier has fetched it by then); the keys it replaces verify until their last token
   * expires. With no active key to overlap with, the new key signs at once. Callers reload their
   * KeyStore after the transaction commits.
   */
  async rotate({ tx, note }: AuditScope) {
    const [active] = await tx.select({ kid: signingKeys.kid }).from(signingKeys).where(eq(signingKeys.status, 'active')).limit(1);
    const delay = active ? DEFAULT_PUBLISH_DELAY_SECONDS : 0;
    const kid = await rotateSigningKey(tx, this.settings.keyEncryptionKey, this.settings.tokenTtlSeconds, delay);
    const keys = await tx
      .select(keyColumns)
      .from(signingKeys)
      .where(inArray(signingKeys.status, ['active', 'retiring']))
      .orderBy(asc(signingKeys.createdAt));
    const key = keys.find((k) => k.kid === kid)!;
    note({
      detail: { kid, activatesAt: key.activatesAt.toISOString(), replaced: keys.filter((k) => k.kid !== kid && k.status === 'retiring').map((k) => k.kid) },
    });
    return { ...key, publishDelaySeconds: delay, keys };
  }
}
