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

/**
 * The same columns as SQL select-list text over `access_log a`, for the sealer's fixed statements:
 * the rows come back as the driver parses them, which is what `sealedColumns` yields too (the
 * sealer's rows are verified through `sealedColumns`, so a difference fails every verification).
 */
export const SEALED_COLUMNS_SQL = `a.id, a.seq, (extract(epoch from a.at) * 1000000)::bigint::text AS "atMicros", a.request_id AS "requestId",
  a.actor_user_id AS "actorUserId", a.actor_username AS "actorUsername", a.actor_agency AS "actorAgency", a.actor_role AS "actorRole",
  a.actor_client AS "actorClient", a.subject_id AS "subjectId", a.action, a.decision, a.tier, a.basis, a.break_glass AS "breakGlass",
  a.reason, a.detail, a.client_request_id AS "clientRequestId"`;

/**
 * JSON with object keys sorted at every depth: one byte string per entry, wherever it is read.
 * Written as loops rather than map/filter/sort/join chains (verification of a large log spends
 * much of its time here); the output is byte for byte what the chained version gave, so every
 * entry sealed before stays verifiable.
 */
export function stableStringify(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      // As Array.prototype.join renders it: an element that has no JSON form is empty.
      const item = stableStringify(value[i]) as string | undefined;
      if (item !== undefined) out += item;
    }
    return `${out}]`;
  }
  const obj = value as Record<string, unknown>;
  const keys: string[] = [];
  for (const k of Object.keys(obj)) if (obj[k] !== undefined) keys.push(k);
  keys.sort();
  let out = '{';
  for (let i = 0; i < keys.length; i++) {
    if (i > 0) out += ',';
    out += `${JSON.stringify(keys[i])}:${stableStringify(obj[keys[i]!])}`;
  }
  return `${out}}`;
}

/** The leaf hash of an entry: version-tagged so the encoding can evolve without ambiguity. */
export const entryLeafHash = (e: SealedFields) => leafHash(entryCanonical(e));

/**
 * The bytes an entry's leaf hash covers: `stableStringify({ v: 1, ...e, seq: String(e.seq) })`,
 * with `clientRequestId` only when set. Built as a copy whose keys are inserted in sorted order
 * and written by one `JSON.stringify`, which gives the same bytes for JSON data (both omit
 * undefined members and quote alike) and one flat string instead of a rope of pieces: that was
 * most of the time of a large verification. Anything where the two could differ (an array with
 * a hole, an integer-like or `__proto__` key, a non-plain object, a key the entry should not
 * carry) takes the general path, which gives the defined bytes by definition.
 */
export function entryCanonical(e: SealedFields): string {
  const o = e as unknown as Record<string, unknown>;
  for (const k in o) if (!SEALED_KEYS.has(k)) return generalCanonical(e);
  const copy: Record<string, unknown> = {};
  for (const key of CANONICAL_ORDER) {
    const value = key === 'v' ? 1 : key === 'seq' ? String(e.seq) : key === 'clientRequestId' && o[key] === null ? undefined : o[key];
    const sorted = sortedValue(value);
    if (sorted === UNSORTABLE) return generalCanonical(e);
    copy[key] = sorted;
  }
  return JSON.stringify(copy);
}

const UNSORTABLE = Symbol('unsortable');
const INDEX_LIKE = /^(?:0|[1-9][0-9]*)$/;

/** A JSON value with object keys inserted in sorted order at every depth, or UNSORTABLE. */
function sortedValue(value: unknown): unknown {
  if (typeof value === 'function' || typeof value === 'symbol' || typeof value === 'bigint') return UNSORTABLE;
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    const out = new Array<unknown>(value.length);
    for (let i = 0; i < value.length; i++) {
      const item = value[i] === undefined ? UNSORTABLE : sortedValue(value[i]);
      if (item === UNSORTABLE) return UNSORTABLE;
      out[i] = item;
    }
    return out;
  }
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return UNSORTABLE;
  const obj = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(obj).sort()) {
    if (k === '__proto__' || INDEX_LIKE.test(k)) return UNSORTABLE;
    const item = sortedValue(obj[k]);
    if (item === UNSORTABLE) return UNSORTABLE;
    out[k] = item;
  }
  return out;
}

const generalCanonical = ({ clientRequestId, ...e }: SealedFields) =>
  stableStringify({ v: 1, ...e, seq: String(e.seq), ...(clientRequestId != null ? { clientRequestId } : {}) });

const SEALED_KEYS = new Set<string>(Object.keys(sealedColumns));
// The keys of the encoded object in stableStringify's order (the default sort).
const CANONICAL_ORDER = ['v', ...SEALED_KEYS].sort();
