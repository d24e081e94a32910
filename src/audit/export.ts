import { asc, eq, sql } from 'drizzle-orm';
import type { Executor } from '../db/client.js';
import { accessLog, auditCheckpoints, auditSeals, auditSealQueue } from '../db/schema/index.js';
import { sealedColumns } from './canonical.js';
import { retentionRecords } from './retention.js';
import { allPublicKeys } from './seal.js';
import type { LogExport } from './verify.js';

/** Reads everything the offline verifier needs. Entries carry ids and rule names only, no clinical content. */
export async function exportLog(db: Executor): Promise<LogExport> {
  // One after another: `db` may be a transaction, whose one connection takes one query at a time
  // (pg queues concurrent ones, deprecated in pg 8 and gone in pg 9).
  const keys = await allPublicKeys(db);
  const checkpoints = await db
    .select({ treeSize: auditCheckpoints.treeSize, rootHash: auditCheckpoints.rootHash, jws: auditCheckpoints.jws })
    .from(auditCheckpoints)
    .orderBy(asc(auditCheckpoints.treeSize));
  const rows = await db
    .select({ leafIndex: auditSeals.leafIndex, leafHash: auditSeals.leafHash, entry: sealedColumns })
    .from(auditSeals)
    .leftJoin(accessLog, eq(accessLog.id, auditSeals.entryId))
    .orderBy(asc(auditSeals.leafIndex));
  const retentions = await retentionRecords(db);
  // Entries not sealed yet: each must still wait in the queue, or the queue was tampered with.
  const unsealed = await db
    .select({ entry: sealedColumns, queued: sql<boolean>`exists (select 1 from ${auditSealQueue} q where q.entry_id = ${accessLog.id})` })
    .from(accessLog)
    .where(sql`not exists (select 1 from ${auditSeals} s where s.entry_id = ${accessLog.id})`)
    .orderBy(asc(accessLog.seq));
  const leaves = rows.map((r) => ({ leafIndex: r.leafIndex, leafHash: r.leafHash, entry: r.entry?.id ? r.entry : null }));
  return { version: 1, keys, checkpoints, leaves: leaves as LogExport['leaves'], retentions, unsealed: unsealed as LogExport['unsealed'] };
}
