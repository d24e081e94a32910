import { asc, desc, eq, sql } from 'drizzle-orm';
import { CompactSign, type CryptoKey, type JWK } from 'jose';
import type { KeyStore } from '../auth/keys.js';
import type { CheckpointPolicy } from '../authz/policy.js';
import { SIGNING_ALG } from '../auth/keys.js';
import { runStatement, type Db, type Executor, type Statement } from '../db/client.js';
import { auditCheckpoints, auditSeals, signingKeys } from '../db/schema/index.js';
import { entryLeafHash, SEALED_COLUMNS_SQL, type SealedFields } from './canonical.js';
import { extendFrontier, rootOfFrontier, type Frontier } from './merkle.js';

// One sealer at a time across every instance: a transaction-scoped advisory lock, held only by the
// sealer's own short transaction, never by request transactions (they only insert into the queue).
export const SEALER_LOCK = 7_420_101;
const SEAL_BATCH = 5_000;
export const CHECKPOINT_TYP = 'tiergate-checkpoint+jws';
export const LOG_ID = 'tiergate-access-log';

export interface Checkpoint {
  treeSize: number;
  rootHash: string;
  issuedAt: Date;
  kid: string;
  jws: string;
}

// The sealer's statements, sent by name: a batch is a few fixed statements whatever its size
// (ids travel as arrays), so no per-batch query of thousands of parameters is built or planned.
const LOCK: Statement = { name: 'tiergate_sealer_lock', text: 'SELECT pg_advisory_xact_lock($1)' };
// The queue's oldest entries with their rows; a queue row whose entry is gone comes back with a
// null id and is dropped from the queue unsealed, as before.
const NEXT_BATCH: Statement = {
  name: 'tiergate_sealer_next_batch',
  text: `SELECT q.entry_id AS "queuedId", ${SEALED_COLUMNS_SQL}
           FROM (SELECT entry_id, seq FROM audit_seal_queue ORDER BY seq LIMIT $1) q
           LEFT JOIN access_log a ON a.id = q.entry_id
          ORDER BY q.seq`,
};
const LAST_LEAF: Statement = { name: 'tiergate_sealer_last_leaf', text: 'SELECT leaf_index AS "leafIndex" FROM audit_seals ORDER BY leaf_index DESC LIMIT 1' };
const INSERT_SEALS: Statement = {
  name: 'tiergate_sealer_insert',
  text: 'INSERT INTO audit_seals (leaf_index, entry_id, leaf_hash) SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::text[])',
};
const DEQUEUE: Statement = { name: 'tiergate_sealer_dequeue', text: 'DELETE FROM audit_seal_queue WHERE entry_id = ANY ($1::uuid[])' };

/**
 * Seals queued entries in sequence order: each gets the next leaf index (no gaps: only the sealer
 * assigns them, under the lock) and its leaf hash. Returns how many were sealed.
 */
export async function sealPending(db: Db, batch = SEAL_BATCH): Promise<number> {
  return db.transaction(async (tx) => {
    await runStatement(tx, LOCK, [SEALER_LOCK]);
    const queued = await runStatement<SealedFields & { queuedId: string; id: string | null }>(tx, NEXT_BATCH, [batch]);
    if (queued.length === 0) return 0;
    // In sequence order: the queue's seq is its entry's.
    const rows = queued.filter((r): r is typeof r & { id: string } => r.id !== null);
    const [last] = await runStatement<{ leafIndex: string | number }>(tx, LAST_LEAF, []);
    const first = last === undefined ? 0 : Number(last.leafIndex) + 1;
    if (rows.length) {
      await runStatement(tx, INSERT_SEALS, [
        rows.map((_, i) => first + i),
        rows.map((r) => r.id),
        // Only the sealed fields: the queue's own column is not part of the entry.
        rows.map(({ queuedId: _queued, ...entry }) => entryLeafHash({ ...entry, seq: Number(entry.seq) }).toString('hex')),
      ]);
    }
    await runStatement(tx, DEQUEUE, [queued.map((q) => q.queuedId)]);
    return rows.length;
  });
}

export async function latestCheckpoint(db: Executor): Promise<(Checkpoint & { frontier: Frontier }) | undefined> {
  const [row] = await db.select().from(auditCheckpoints).orderBy(desc(auditCheckpoints.treeSize)).limit(1);
  if (!row) return undefined;
  const frontier = (row.frontier as { size: number; hash: string }[]).map((f) => ({ size: f.size, hash: Buffer.from(f.hash, 'hex') }));
  return { ...row, frontier };
}

/**
 * Signs a checkpoint over every sealed leaf when the tree grew; returns the latest checkpoint.
 * With `notWithinMs`, signs only if the latest is at least that old by `clock`, read under the
 * sealer's lock: across workers and instances, one signs per interval.
 */
export async function issueCheckpoint(db: Db, keys: KeyStore, schedule: { notWithinMs?: number; clock?: () => number } = {}): Promise<Checkpoint | undefined> {
  // Outside the transaction: a stale key store re-reads its table through `db`, which on PGlite's
  // single connection would wait forever for this very transaction.
  const { kid, key } = await keys.signingKey();
  return db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(${SEALER_LOCK})`);
    const previous = await latestCheckpoint(tx);
    const { notWithinMs, clock = Date.now } = schedule;
    if (previous && notWithinMs && clock() - previous.issuedAt.getTime() < notWithinMs) return previous;
    const from = previous?.treeSize ?? 0;
    const fresh = await tx
      .select({ leafHash: auditSeals.leafHash })
      .from(auditSeals)
      .where(sql`${auditSeals.leafIndex} >= ${from}`)
      .orderBy(asc(auditSeals.leafIndex));
    if (fresh.length === 0) return previous;
    const frontier = extendFrontier(
      previous?.frontier ?? [],
      fresh.map((f) => Buffer.from(f.leafHash, 'hex')),
    );
    const row = await signCheckpoint({ kid, key }, from + fresh.length, frontier);
    await tx.insert(auditCheckpoints).values(row);
    return row;
  });
}

/** The checkpoint row for a tree of `treeSize` leaves with this frontier, signed with `signer`. */
export async function signCheckpoint(signer: { kid: string; key: CryptoKey }, treeSize: number, frontier: Frontier) {
  const rootHash = rootOfFrontier(frontier).toString('hex');
  const issuedAt = new Date();
  const payload = { log: LOG_ID, tree_size: treeSize, root_hash: rootHash, issued_at: issuedAt.toISOString() };
  const jws = await new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader({ alg: SIGNING_ALG, kid: signer.kid, typ: CHECKPOINT_TYP })
    .sign(signer.key);
  return { treeSize, rootHash, issuedAt, kid: signer.kid, jws, frontier: frontier.map((f) => ({ size: f.size, hash: f.hash.toString('hex') })) };
}

/** Seals everything queued, batch after batch. */
export async function sealAll(db: Db): Promise<void> {
  while ((await sealPending(db)) > 0);
}

/** Seals what is queued and signs a checkpoint if the tree grew (the retention command, tests). */
export async function sealAndCheckpoint(db: Db, keys: KeyStore): Promise<Checkpoint | undefined> {
  await sealAll(db);
  return issueCheckpoint(db, keys);
}

/**
 * The background sealer's step (src/main.ts): seals what is queued, then signs a checkpoint on the
 * policy's schedule, when entries were sealed since the last one and it is at least
 * `everySeconds` old. Requests never sign. Under steady load the queue is never quite empty, so
 * it seals until a batch comes back short and leaves the rest to the next step, so as not to put
 * off the checkpoint.
 */
export async function sealOnSchedule(db: Db, keys: KeyStore, policy: CheckpointPolicy, clock: () => number = Date.now): Promise<Checkpoint | undefined> {
  while ((await sealPending(db, SEAL_BATCH)) === SEAL_BATCH);
  return issueCheckpoint(db, keys, { notWithinMs: policy.everySeconds * 1000, clock });
}

/** Public keys of every key that ever signed, for verifying old checkpoints offline. */
export async function allPublicKeys(db: Executor): Promise<JWK[]> {
  return (await db.select({ jwk: signingKeys.publicJwk }).from(signingKeys)).map((r) => r.jwk as JWK);
}

/** Every sealed leaf hash in order; O(n), for proofs on demand. */
export async function sealedLeaves(db: Executor, size?: number): Promise<Buffer[]> {
  const q = db.select({ leafHash: auditSeals.leafHash }).from(auditSeals).orderBy(asc(auditSeals.leafIndex));
  const rows = size === undefined ? await q : await q.limit(size);
  return rows.map((r) => Buffer.from(r.leafHash, 'hex'));
}

export async function sealOf(db: Executor, entryId: string) {
  const [row] = await db.select().from(auditSeals).where(eq(auditSeals.entryId, entryId)).limit(1);
  return row;
}
