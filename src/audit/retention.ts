import { randomUUID } from 'node:crypto';
import { asc, sql } from 'drizzle-orm';
import { CompactSign } from 'jose';
import type { KeyStore } from '../auth/keys.js';
import { SIGNING_ALG } from '../auth/keys.js';
import { queryRows, type Db, type Executor } from '../db/client.js';
import { auditRetentions } from '../db/schema/index.js';
import { appendAccessLog } from './append.js';
import { latestCheckpoint, LOG_ID, sealAndCheckpoint, SEALER_LOCK } from './seal.js';
import { AUDIT_ACTIONS } from './vocabulary.js';

/**
 * Retention of the access log. HIPAA keeps documentation six years (45 CFR 164.316(b)(2)(i)) and
 * an accounting of disclosures covers six years (164.528), so nothing younger is ever dropped:
 * this module refuses, and so does the database function that drops a partition. What a dropped
 * month held is recorded in a signed retention record; the seals stay, so the Merkle tree and
 * every checkpoint still verify, and an entry may be missing only where such a record says so.
 */
export const RETENTION_YEARS = 6;
export const RETENTION_TYP = 'tiergate-retention+jws';

/** Half-open [from, to) runs of leaf indices. */
export type LeafRanges = [number, number][];

export interface LogPartition {
  name: string;
  from: Date;
  to: Date;
}

export interface RetentionPlanItem extends LogPartition {
  entries: number;
  unsealed: number;
  leafRanges: LeafRanges;
}

export interface RetentionRecord extends LogPartition {
  entries: number;
  leafRanges: LeafRanges;
  treeSize: number;
  rootHash: string;
  jws: string;
}

export class RetentionRefused extends Error {}

const PARTITION_NAME = /^access_log_y(\d{4})m(\d{2})$/;

/** The oldest instant that must still be kept: the start of the month six years before `now`. */
export function retentionCutoff(now = new Date()): Date {
  return new Date(Date.UTC(now.getUTCFullYear() - RETENTION_YEARS, now.getUTCMonth(), 1));
}

/** Creates this month's partition and the next two; the gateway calls it at start and daily. */
export async function ensureLogPartitions(db: Executor, monthsAhead = 2): Promise<void> {
  await db.execute(sql`select tiergate_ensure_log_partitions(${monthsAhead}::integer)`);
}

/** The log's monthly partitions, oldest first. Their bounds follow from their names. */
export async function logPartitions(db: Executor): Promise<LogPartition[]> {
  const rows = await queryRows<{ name: string }>(
    db,
    sql`select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid where i.inhparent = 'access_log'::regclass order by c.relname`,
  );
  return rows.flatMap(({ name }) => {
    const m = PARTITION_NAME.exec(name);
    if (!m) return [];
    const [year, month] = [Number(m[1]), Number(m[2]) - 1];
    return [{ name, from: new Date(Date.UTC(year, month, 1)), to: new Date(Date.UTC(year, month + 1, 1)) }];
  });
}

/** The partitions wholly before `before`, oldest first: what retention would drop. */
async function partitionsEndingBy(db: Executor, before: Date): Promise<LogPartition[]> {
  return (await logPartitions(db)).filter((p) => p.to <= before);
}

/** Collapses sorted leaf indices into half-open runs. */
export function toRanges(indices: number[]): LeafRanges {
  const ranges: LeafRanges = [];
  for (const i of indices) {
    const last = ranges.at(-1);
    if (last && last[1] === i) last[1] = i + 1;
    else ranges.push([i, i + 1]);
  }
  return ranges;
}

/** What dropping every partition that ends on or before `before` would remove; changes nothing. */
export async function planRetention(db: Executor, before: Date, now = new Date()): Promise<RetentionPlanItem[]> {
  assertOldEnough(before, now);
  const plan: RetentionPlanItem[] = [];
  for (const p of await partitionsEndingBy(db, before)) plan.push({ ...p, ...(await partitionContents(db, p.name)) });
  return plan;
}

/**
 * Drops every partition ending on or before `before`, oldest first, each in its own transaction
 * under the sealer's lock: seal and checkpoint everything, sign a record of the month's leaves,
 * log the retention, then detach and drop. Needs the schema owner's connection.
 */
export async function retireLogPartitions(db: Db, keys: KeyStore, before: Date, operator: string, now = new Date()): Promise<RetentionRecord[]> {
  assertOldEnough(before, now);
  await sealAndCheckpoint(db, keys);
  const records: RetentionRecord[] = [];
  for (const p of await partitionsEndingBy(db, before)) {
    const { kid, key } = await keys.signingKey(); // outside the transaction: see issueCheckpoint
    records.push(
      await db.transaction(async (tx) => {
        await tx.execute(sql`select pg_advisory_xact_lock(${SEALER_LOCK})`);
        const { entries, unsealed, leafRanges } = await partitionContents(tx, p.name);
        if (unsealed > 0) throw new RetentionRefused(`${p.name} holds ${unsealed} unsealed entries; run the sealer first`);
        const checkpoint = await latestCheckpoint(tx);
        const highest = leafRanges.at(-1)?.[1] ?? 0;
        if (highest > (checkpoint?.treeSize ?? 0)) throw new RetentionRefused(`${p.name} holds leaves no signed checkpoint covers yet`);
        const droppedAt = new Date();
        const payload = {
          log: LOG_ID,
          partition: p.name,
          range_from: p.from.toISOString(),
          range_to: p.to.toISOString(),
          entries,
          leaf_ranges: leafRanges,
          tree_size: checkpoint?.treeSize ?? 0,
          root_hash: checkpoint?.rootHash ?? null,
          dropped_at: droppedAt.toISOString(),
        };
        const jws = await new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
          .setProtectedHeader({ alg: SIGNING_ALG, kid, typ: RETENTION_TYP })
          .sign(key);
        await tx.insert(auditRetentions).values({ partition: p.name, rangeFrom: p.from, rangeTo: p.to, entries, leafRanges, droppedAt, kid, jws });
        await appendAccessLog(tx, {
          requestId: `cli:${randomUUID()}`,
          action: AUDIT_ACTIONS.auditRetention,
          decision: 'allow',
          detail: { partition: p.name, from: payload.range_from, to: payload.range_to, entries, operator },
        });
        await tx.execute(sql`select tiergate_retire_log_partition(${p.name})`);
        return { ...p, entries, leafRanges, treeSize: payload.tree_size, rootHash: payload.root_hash ?? '', jws };
      }),
    );
  }
  return records;
}

export async function retentionRecords(db: Executor): Promise<{ partition: string; jws: string }[]> {
  return db.select({ partition: auditRetentions.partition, jws: auditRetentions.jws }).from(auditRetentions).orderBy(asc(auditRetentions.rangeFrom));
}

/** Throws unless everything before `before` is at least six years old. */
export function assertOldEnough(before: Date, now = new Date()): void {
  if (Number.isNaN(before.getTime())) throw new RetentionRefused('not a date');
  const cutoff = retentionCutoff(now);
  if (before > cutoff) {
    throw new RetentionRefused(
      `refusing to drop entries younger than ${RETENTION_YEARS} years: the cut-off must be on or before ${cutoff.toISOString().slice(0, 7)}`,
    );
  }
}

async function partitionContents(db: Executor, name: string): Promise<{ entries: number; unsealed: number; leafRanges: LeafRanges }> {
  if (!PARTITION_NAME.test(name)) throw new RetentionRefused(`${name} is not a log partition`);
  const table = sql.identifier(name);
  const rows = await queryRows<{ leaf_index: string | number | null }>(
    db,
    sql`select s.leaf_index from ${table} p left join audit_seals s on s.entry_id = p.id order by s.leaf_index nulls last`,
  );
  const sealed = rows.filter((r) => r.leaf_index !== null).map((r) => Number(r.leaf_index));
  return { entries: rows.length, unsealed: rows.length - sealed.length, leafRanges: toRanges(sealed) };
}
