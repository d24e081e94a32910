import { sql } from 'drizzle-orm';
import { accessLog } from '../db/schema/index.js';
import { leafHash } from './merkle.js';

/** The fields of an entry that its leaf hash covers, exactly as the sealer and verifier read them. */
export interface SealedFields {
  id: string;
  seq: number;
  atMicros: string;
  requestId: string;
  actorUserId: string | null;
  actorUsername: string | null;
  actorAgency: string | null;
  actorRole: string | null;
  actorClient: string | null;
  subjectId: string | null;
  action: string;
  decision: string;
  tier: string | null;
  basis: unknown;
  breakGlass: boolean;
  reason: string | null;
  detail: unknown;
  /**
   * The client's X-Request-Id (migration 0012). Covered by the leaf hash only when set, so every
   * entry written before the column existed (and every entry without one) hashes as it always did.
   */
  clientRequestId?: string | null;
}

/** Columns to select for SealedFields; time as epoch microseconds, independent of session time zone. */
export const sealedColumns = {
  id: accessLog.id,
  seq: accessLog.seq,
  atMicros: sql<string>`(extract(epoch from ${accessLog.at}) * 1000000)::bigint::text`,
  requestId: accessLog.requestId,
  actorUserId: accessLog.actorUserId,
  actorUsername: accessLog.actorUsername,
  actorAgency: accessLog.actorAgency,
  actorRole: accessLog.actorRole,
  actorClient: accessLog.actorClient,
  subjectId: accessLog.subjectId,
  action: accessLog.action,
  decision: accessLog.decision,
  tier: accessLog.tier,
  basis: accessLog.basis,
  breakGlass: accessLog.breakGlass,
  reason: accessLog.reason,
  detail: accessLog.detail,
  clientRequestId: accessLog.clientRequestId,
};

/** JSON with object keys sorted at every depth: one byte string per entry, wherever it is read. */
export function stableStringify(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  const obj = value as Record<string, unknown>;
  return `{${Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${stableStringify(obj[k])}`)
    .join(',')}}`;
}

/** The leaf hash of an entry: version-tagged so the encoding can evolve without ambiguity. */
export const entryLeafHash = ({ clientRequestId, ...e }: SealedFields) =>
  leafHash(stableStringify({ v: 1, ...e, seq: String(e.seq), ...(clientRequestId != null ? { clientRequestId } : {}) }));
