import { compactVerify, importJWK, type JWK } from 'jose';
import { SIGNING_ALG } from '../auth/keys.js';
import { entryLeafHash, type SealedFields } from './canonical.js';
import { extendFrontier, rootOfFrontier } from './merkle.js';
import { CHECKPOINT_TYP, LOG_ID } from './seal.js';

/** What an offline verifier needs: public keys, checkpoints, and the sealed leaves with their entries. */
export interface LogExport {
  version: 1;
  keys: JWK[];
  checkpoints: { treeSize: number; rootHash: string; jws: string }[];
  leaves: { leafIndex: number; leafHash: string; entry: SealedFields | null }[];
}

export interface VerifyReport {
  ok: boolean;
  leaves: number;
  checkpoints: number;
  /** The first thing that failed, naming the entry where one can be named. */
  failure?: { leafIndex?: number; entryId?: string; checkpoint?: number; reason: string };
}

/**
 * Checks the whole log: every checkpoint is signed by a known key over what it claims; leaves
 * run 0..n-1 without gaps; each entry hashes to its sealed leaf; and the root over the first
 * `tree_size` leaves equals every checkpoint's root. Edits, deletions, reordering and a cut-off
 * tail (fewer leaves than a checkpoint counted) all fail, with the first failing entry named.
 */
export async function verifyLog(data: LogExport): Promise<VerifyReport> {
  const fail = (failure: VerifyReport['failure']): VerifyReport => ({ ok: false, leaves: data.leaves.length, checkpoints: data.checkpoints.length, failure });
  const keys = new Map(data.keys.filter((k) => k.kid).map((k) => [k.kid!, k]));

  const checkpoints = [...data.checkpoints].sort((a, b) => a.treeSize - b.treeSize);
  for (const cp of checkpoints) {
    const reason = await checkSignature(cp, keys);
    if (reason) return fail({ checkpoint: cp.treeSize, reason });
  }

  const leaves = [...data.leaves].sort((a, b) => a.leafIndex - b.leafIndex);
  const seenEntries = new Set<string>();
  for (let i = 0; i < leaves.length; i++) {
    const leaf = leaves[i]!;
    if (leaf.leafIndex !== i) return fail({ leafIndex: i, reason: `leaf ${i} is missing (next present is ${leaf.leafIndex})` });
    if (!leaf.entry) return fail({ leafIndex: i, reason: 'the entry sealed at this leaf is missing' });
    if (seenEntries.has(leaf.entry.id)) return fail({ leafIndex: i, entryId: leaf.entry.id, reason: 'entry sealed twice' });
    seenEntries.add(leaf.entry.id);
    if (entryLeafHash(leaf.entry).toString('hex') !== leaf.leafHash) return fail({ leafIndex: i, entryId: leaf.entry.id, reason: 'entry does not match its seal (altered)' });
  }

  let frontier = extendFrontier([], []);
  let size = 0;
  for (const cp of checkpoints) {
    if (cp.treeSize > leaves.length) {
      return fail({ checkpoint: cp.treeSize, leafIndex: leaves.length, reason: `checkpoint counts ${cp.treeSize} entries but only ${leaves.length} are sealed (entries removed)` });
    }
    frontier = extendFrontier(frontier, leaves.slice(size, cp.treeSize).map((l) => Buffer.from(l.leafHash, 'hex')));
    size = cp.treeSize;
    if (rootOfFrontier(frontier).toString('hex') !== cp.rootHash) {
      const firstAfter = checkpoints.filter((c) => c.treeSize < cp.treeSize).at(-1)?.treeSize ?? 0;
      return fail({ checkpoint: cp.treeSize, leafIndex: firstAfter, entryId: leaves[firstAfter]?.entry?.id, reason: `root differs from checkpoint ${cp.treeSize}: an entry in leaves ${firstAfter}..${cp.treeSize - 1} was altered, reordered or replaced together with its seal` });
    }
  }
  return { ok: true, leaves: leaves.length, checkpoints: checkpoints.length };
}

async function checkSignature(cp: LogExport['checkpoints'][number], keys: Map<string, JWK>): Promise<string | undefined> {
  try {
    const { payload, protectedHeader } = await compactVerify(
      cp.jws,
      async (header) => {
        const jwk = header.kid ? keys.get(header.kid) : undefined;
        if (!jwk) throw new Error('unknown key');
        return importJWK(jwk, SIGNING_ALG);
      },
      { algorithms: [SIGNING_ALG] },
    );
    if (protectedHeader.typ !== CHECKPOINT_TYP) return 'checkpoint has the wrong typ';
    const claims = JSON.parse(new TextDecoder().decode(payload)) as { log?: string; tree_size?: number; root_hash?: string };
    if (claims.log !== LOG_ID || claims.tree_size !== cp.treeSize || claims.root_hash !== cp.rootHash) return 'checkpoint fields differ from what was signed';
    return undefined;
  } catch {
    return 'checkpoint signature does not verify with any known key';
  }
}
