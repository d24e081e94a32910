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
 * with `clientRequestId` only when set. Written field by field in the sorted key order, which is
 * known ahead, as one concatenation: no sorted copy of the entry and no `JSON.stringify` of it
 * (a large verification spends most of its time here). Each part is what `stableStringify` gives
 * for that value, so the bytes are the same. An entry of another shape (a key it should not
 * carry, a missing field, a prototype, a value `stableStringify` renders oddly such as a
 * function) takes the general path, which gives the defined bytes by definition.
 */
export function entryCanonical(e: SealedFields): string {
  const o = e as unknown as Record<string, unknown>;
  if (Object.getPrototypeOf(o) !== Object.prototype) return generalCanonical(e);
  for (const k in o) if (!SEALED_KEYS.has(k)) return generalCanonical(e);
  const crid = e.clientRequestId;
  try {
    return (
      `{"action":${top(e.action)},"actorAgency":${top(e.actorAgency)},"actorClient":${top(e.actorClient)},"actorRole":${top(e.actorRole)}` +
      `,"actorUserId":${top(e.actorUserId)},"actorUsername":${top(e.actorUsername)},"atMicros":${top(e.atMicros)},"basis":${top(e.basis)}` +
      `,"breakGlass":${top(e.breakGlass)}${crid != null ? `,"clientRequestId":${top(crid)}` : ''},"decision":${top(e.decision)}` +
      `,"detail":${top(e.detail)},"id":${top(e.id)},"reason":${top(e.reason)},"requestId":${top(e.requestId)}` +
      `,"seq":${typeof e.seq === 'number' ? `"${e.seq}"` : str(String(e.seq))},"subjectId":${top(e.subjectId)},"tier":${top(e.tier)},"v":1}`
    );
  } catch (err) {
    if (err === UNUSUAL) return generalCanonical(e);
    throw err;
  }
}

/** Thrown inside the fast encoder for a value it leaves to the general path. */
const UNUSUAL = Symbol('unusual');
// What JSON.stringify escapes in a string: the quote, the backslash, control characters, and a
// lone surrogate (a string with any surrogate just goes through JSON.stringify).
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/** JSON.stringify of a string, without the call for the usual string that needs no escape. */
const str = (s: string): string => (NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`);

/** A top-level field. A missing one (undefined, omitted by the definition) takes the general path. */
function top(value: unknown): string {
  if (typeof value === 'string') return str(value);
  if (value === null) return 'null';
  if (value === undefined) throw UNUSUAL;
  return nested(value);
}

/** stableStringify of a value, for the kinds it renders as plain JSON. */
function nested(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return str(value);
    case 'number':
      // JSON.stringify of a number.
      return Number.isFinite(value) ? String(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      break;
    default:
      // A function, symbol or bigint (undefined never reaches here: callers skip it).
      throw UNUSUAL;
  }
  if (value === null) return 'null';
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      // As Array.prototype.join renders it: a hole or an undefined element is empty.
      const item = value[i] as unknown;
      if (item !== undefined) out += nested(item);
    }
    return `${out}]`;
  }
  // Any other object as the definition reads it: Object.keys, sorted by UTF-16 units (as
  // Array.prototype.sort does; keys are distinct, so any sort gives the same order), undefined
  // members left out.
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj);
  if (keys.length > 16) keys.sort();
  else {
    // Insertion sort: a few keys, often in order already; Array.prototype.sort costs more to call.
    for (let i = 1; i < keys.length; i++) {
      const k = keys[i]!;
      let j = i;
      for (; j > 0 && keys[j - 1]! > k; j--) keys[j] = keys[j - 1]!;
      keys[j] = k;
    }
  }
  let out = '{';
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    const item = obj[k];
    if (item === undefined) continue;
    if (out.length > 1) out += ',';
    out += `${keyOf(k)}${nested(item)}`;
  }
  return `${out}}`;
}

// Encoded keys (`"name":`) cached, since the same few recur in every entry; bounded, so that
// an export with many distinct keys cannot grow it without end.
const keyCache = new Map<string, string>();
function keyOf(k: string): string {
  let encoded = keyCache.get(k);
  if (encoded === undefined) {
    encoded = `${str(k)}:`;
    if (keyCache.size < 4096) keyCache.set(k, encoded);
  }
  return encoded;
}

const generalCanonical = ({ clientRequestId, ...e }: SealedFields) =>
  stableStringify({ v: 1, ...e, seq: String(e.seq), ...(clientRequestId != null ? { clientRequestId } : {}) });

const SEALED_KEYS = new Set<string>(Object.keys(sealedColumns));
