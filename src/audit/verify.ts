import { compactVerify, importJWK, type JWK } from 'jose';
import { SIGNING_ALG } from '../auth/keys.js';
import { entryCanonical, type SealedFields } from './canonical.js';
import { EMPTY_ROOT } from './merkle.js';
import { LEAF_HASH, type ChunkResult } from './verify-chunks.js';
import { ChunkWriter, InlineHasher, WorkerHasher } from './verify-hashers.js';
import { RETENTION_TYP, type LeafRanges } from './retention.js';
import { CHECKPOINT_TYP, LOG_ID } from './seal.js';

/** What an offline verifier needs: public keys, checkpoints, and the sealed leaves with their entries. */
export interface LogExport {
  version: 1;
  keys: JWK[];
  checkpoints: { treeSize: number; rootHash: string; jws: string }[];
  leaves: { leafIndex: number; leafHash: string; entry: SealedFields | null }[];
  /** Signed records of months dropped by the retention command (absent in older exports). */
  retentions?: { partition: string; jws: string }[];
  /** Entries in the log without a seal, and whether each still waits in the sealer's queue. */
  unsealed?: { entry: SealedFields; queued: boolean }[];
}

export interface VerifyReport {
  ok: boolean;
  leaves: number;
  checkpoints: number;
  /** Leaves whose entries were dropped by a signed retention record. */
  retired: number;
  /** Entries written but not sealed yet (still queued). */
  pending: number;
  /** The first thing that failed, naming the entry where one can be named. */
  failure?: { leafIndex?: number; entryId?: string; checkpoint?: number; reason: string };
}

// From this many leaves the hashing runs on a worker thread, beside the canonical encoding
// here; below it a worker's start-up costs more than it saves.
const PARALLEL_FROM = 50_000;
const CHUNK = 16_384;

export interface VerifyOptions {
  /** Leaves from which hashing moves to a worker thread (default 50 000). */
  parallelFrom?: number;
  /** Leaves per chunk sent to the hasher (default 16 384). */
  chunk?: number;
}

/**
 * Checks the whole log: every checkpoint is signed by a known key over what it claims; leaves
 * run 0..n-1 without gaps; each entry hashes to its sealed leaf; and the root over the first
 * `tree_size` leaves equals every checkpoint's root. Leaves whose entries a signed retention
 * record retired may lack their entry. Edits, deletions, reordering and a cut-off
 * tail (fewer leaves than a checkpoint counted) all fail, with the first failing entry named.
 */
export async function verifyLog(data: LogExport, trustedKeys?: JWK[], options: VerifyOptions = {}): Promise<VerifyReport> {
  let retired = 0;
  const pending = data.unsealed?.length ?? 0;
  const fail = (failure: VerifyReport['failure']): VerifyReport => ({
    ok: false,
    leaves: data.leaves.length,
    checkpoints: data.checkpoints.length,
    retired,
    pending,
    failure,
  });
  // An auditor pins the keys they fetched from the gateway's JWKS beforehand; the export's own
  // key list is only as trustworthy as the database it was read from.
  const keys = new Map((trustedKeys ?? data.keys).filter((k) => k.kid).map((k) => [k.kid!, k]));

  const checkpoints = [...data.checkpoints].sort((a, b) => a.treeSize - b.treeSize);
  for (const cp of checkpoints) {
    const reason = await checkSignature(cp, keys);
    if (reason) return fail({ checkpoint: cp.treeSize, reason });
  }
  const retiredRanges: LeafRanges = [];
  for (const r of data.retentions ?? []) {
    const checked = await checkRetention(r, keys, checkpoints);
    if (typeof checked === 'string') return fail({ reason: `retention record ${r.partition}: ${checked}` });
    retiredRanges.push(...checked);
  }
  const isRetired = (i: number) => retiredRanges.some(([from, to]) => i >= from && i < to);

  const leaves = [...data.leaves].sort((a, b) => a.leafIndex - b.leafIndex);
  // The structure is checked here in leaf order; each entry's canonical bytes go to the hasher,
  // which checks them against their seals and computes the roots at the checkpoints.
  const sizes = checkpoints.map((c) => c.treeSize).filter((n) => n <= leaves.length);
  const hasher = leaves.length >= (options.parallelFrom ?? PARALLEL_FROM) ? new WorkerHasher() : new InlineHasher();
  const chunkSize = options.chunk ?? CHUNK;
  // Entry ids other than strings (never in a real export) are checked for repeats here; string
  // ids, in the hasher, which has time to spare.
  const seenEntries = new Set<unknown>();
  let structural: { leafIndex: number; entryId?: string; reason: string } | undefined;
  let results: ChunkResult[];
  try {
    let chunk = new ChunkWriter(0, chunkSize, sizes);
    for (let i = 0; i < leaves.length; i++) {
      const leaf = leaves[i]!;
      if (leaf.leafIndex !== i) {
        structural = { leafIndex: i, reason: `leaf ${i} is missing (next present is ${leaf.leafIndex})` };
        break;
      }
      // The hasher finds a malformed seal of an entry (it cannot equal the computed hash) and
      // an entry sealed twice; the seal's format is tested here where no hash is compared.
      if (typeof leaf.leafHash !== 'string') {
        structural = malformedLeaf(i);
        break;
      }
      if (!leaf.entry) {
        if (!LEAF_HASH.test(leaf.leafHash)) {
          structural = malformedLeaf(i);
          break;
        }
        if (!isRetired(i)) {
          structural = { leafIndex: i, reason: 'the entry sealed at this leaf is missing' };
          break;
        }
        retired++;
      } else if (typeof leaf.entry.id !== 'string') {
        if (seenEntries.has(leaf.entry.id)) {
          structural = LEAF_HASH.test(leaf.leafHash) ? { leafIndex: i, entryId: leaf.entry.id, reason: 'entry sealed twice' } : malformedLeaf(i);
          break;
        }
        seenEntries.add(leaf.entry.id);
      }
      const id = leaf.entry && typeof leaf.entry.id === 'string' ? leaf.entry.id : null;
      chunk.add(leaf.leafHash, id, leaf.entry ? entryCanonical(leaf.entry) : undefined);
      if (chunk.full) {
        await hasher.submit(chunk.done());
        chunk = new ChunkWriter(i + 1, chunkSize, sizes, hasher.spare());
      }
    }
    if (chunk.count > 0) await hasher.submit(chunk.done());
    results = await hasher.results();
  } finally {
    hasher.close();
  }
  // The first failure in leaf order, whichever half found it.
  // The hasher only gets the leaves before a structural failure, so one it finds comes first.
  const failed = results.find((r) => r.firstFailure >= 0);
  if (failed) {
    const leafIndex = failed.firstFailure;
    const entryId = leaves[leafIndex]!.entry!.id;
    if (failed.failure === 'malformed') return fail(malformedLeaf(leafIndex));
    if (failed.failure === 'twice') return fail({ leafIndex, entryId, reason: 'entry sealed twice' });
    return fail({ leafIndex, entryId, reason: 'entry does not match its seal (altered)' });
  }
  if (structural) return fail(structural);

  const roots = new Map(results.flatMap((r) => r.roots));
  for (const cp of checkpoints) {
    if (cp.treeSize > leaves.length) {
      return fail({
        checkpoint: cp.treeSize,
        leafIndex: leaves.length,
        reason: `checkpoint counts ${cp.treeSize} entries but only ${leaves.length} are sealed (entries removed)`,
      });
    }
    if ((cp.treeSize === 0 ? EMPTY_ROOT.toString('hex') : roots.get(cp.treeSize)) !== cp.rootHash) {
      const firstAfter = checkpoints.filter((c) => c.treeSize < cp.treeSize).at(-1)?.treeSize ?? 0;
      return fail({
        checkpoint: cp.treeSize,
        leafIndex: firstAfter,
        entryId: leaves[firstAfter]?.entry?.id,
        reason: `root differs from checkpoint ${cp.treeSize}: an entry in leaves ${firstAfter}..${cp.treeSize - 1} was altered, reordered or replaced together with its seal`,
      });
    }
  }
  // An entry dropped from the queue would never be sealed, and so never checked: that is tampering.
  const orphan = data.unsealed?.find((u) => !u.queued);
  if (orphan) return fail({ entryId: orphan.entry.id, reason: 'entry is neither sealed nor queued for sealing (removed from the queue)' });
  return { ok: true, leaves: leaves.length, checkpoints: checkpoints.length, retired, pending };
}

const malformedLeaf = (leafIndex: number) => ({ leafIndex, reason: 'malformed leaf hash' });

async function checkSignature(cp: LogExport['checkpoints'][number], keys: Map<string, JWK>): Promise<string | undefined> {
  const claims = await verifiedClaims<{ tree_size?: number; root_hash?: string }>(cp.jws, keys, CHECKPOINT_TYP);
  if (!claims) return 'checkpoint signature does not verify with any known key';
  if (claims.tree_size !== cp.treeSize || claims.root_hash !== cp.rootHash) return 'checkpoint fields differ from what was signed';
  return undefined;
}

/** The leaf ranges a retention record retires, or why it cannot be trusted. */
async function checkRetention(
  r: NonNullable<LogExport['retentions']>[number],
  keys: Map<string, JWK>,
  checkpoints: LogExport['checkpoints'],
): Promise<LeafRanges | string> {
  const claims = await verifiedClaims<{ partition?: string; leaf_ranges?: unknown; tree_size?: number; root_hash?: string | null }>(r.jws, keys, RETENTION_TYP);
  if (!claims) return 'signature does not verify with any known key';
  if (claims.partition !== r.partition) return 'fields differ from what was signed';
  const ranges = claims.leaf_ranges;
  if (!Array.isArray(ranges) || !ranges.every((x) => Array.isArray(x) && x.length === 2 && x.every(Number.isSafeInteger) && x[0] < x[1]))
    return 'malformed leaf ranges';
  // Every retired leaf was covered by the checkpoint the record names, and that checkpoint is in the log.
  const cp = checkpoints.find((c) => c.treeSize === claims.tree_size);
  if (!cp || cp.rootHash !== claims.root_hash) return `names checkpoint ${claims.tree_size} which the log does not hold`;
  if ((ranges as LeafRanges).some(([, to]) => to > cp.treeSize)) return 'retires leaves its checkpoint does not cover';
  return ranges as LeafRanges;
}

/** The claims of a JWS of type `typ` signed by one of `keys` for this log, or undefined. */
export async function verifiedClaims<T>(jws: string, keys: Map<string, JWK>, typ: string): Promise<(T & { log?: string }) | undefined> {
  try {
    const { payload, protectedHeader } = await compactVerify(
      jws,
      async (header) => {
        const jwk = header.kid ? keys.get(header.kid) : undefined;
        if (!jwk) throw new Error('unknown key');
        return importJWK(jwk, SIGNING_ALG);
      },
      { algorithms: [SIGNING_ALG] },
    );
    if (protectedHeader.typ !== typ) return undefined;
    const claims = JSON.parse(new TextDecoder().decode(payload)) as T & { log?: string };
    return claims.log === LOG_ID ? claims : undefined;
  } catch {
    return undefined;
  }
}
