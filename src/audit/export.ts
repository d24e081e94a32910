import { asc, eq } from 'drizzle-orm';
import type { Executor } from '../db/client.js';
import { accessLog, auditCheckpoints, auditSeals } from '../db/schema/index.js';
import { sealedColumns } from './canonical.js';
import { retentionRecords } from './retention.js';
import { allPublicKeys } from './seal.js';
import type { LogExport } from './verify.js';

/** Reads everything the offline verifier needs. Entries carry ids and rule names only, no clinical content. */
export async function exportLog(db: Executor): Promise<LogExport> {
  const [keys, checkpoints, rows, retentions] = await Promise.all([
    allPublicKeys(db),
    db.select({ treeSize: auditCheckpoints.treeSize, rootHash: auditCheckpoints.rootHash, jws: auditCheckpoints.jws }).from(auditCheckpoints).orderBy(asc(auditCheckpoints.treeSize)),
    db
      .select({ leafIndex: auditSeals.leafIndex, leafHash: auditSeals.leafHash, entry: sealedColumns })
      .from(auditSeals)
      .leftJoin(accessLog, eq(accessLog.id, auditSeals.entryId))
      .orderBy(asc(auditSeals.leafIndex)),
    retentionRecords(db),
  ]);
  const leaves = rows.map((r) => ({ leafIndex: r.leafIndex, leafHash: r.leafHash, entry: r.entry?.id ? r.entry : null }));
  return { version: 1, keys, checkpoints, leaves: leaves as LogExport['leaves'], retentions };
}
