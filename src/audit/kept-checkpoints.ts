import type { JWK } from 'jose';
import { CHECKPOINT_TYP } from './seal.js';
import { extendFrontier, rootOfFrontier, type Frontier } from './merkle.js';
import { verifiedClaims, type LogExport } from './verify.js';

export type KeptStatus = 'matches' | 'beyond' | 'forked' | 'unverifiable';

export interface KeptResult {
  treeSize: number | null;
  status: KeptStatus;
}

/**
 * Checks checkpoints that a partner kept outside the gateway against a log (after a restore, say):
 * each must be signed by a trusted key, and the log's first `tree_size` leaves must have the root
 * it signed. `beyond`: the partner saw a larger log than this one holds (entries lost, as after a
 * point-in-time restore to an earlier moment); `forked`: the same size with another root (the log
 * was rewritten); `unverifiable`: no trusted key signed it. Run after `verifyLog`, which checks
 * that the leaves match their entries.
 */
export async function checkKeptCheckpoints(data: LogExport, kept: string[], trustedKeys?: JWK[]): Promise<KeptResult[]> {
  const keys = new Map((trustedKeys ?? data.keys).filter((k) => k.kid).map((k) => [k.kid!, k]));
  const claimed = await Promise.all(
    kept.map(async (jws) => ({ jws, claims: await verifiedClaims<{ tree_size?: unknown; root_hash?: unknown }>(jws, keys, CHECKPOINT_TYP) })),
  );
  const leaves = [...data.leaves].sort((a, b) => a.leafIndex - b.leafIndex).map((l) => Buffer.from(l.leafHash, 'hex'));
  const wellFormed = (c: (typeof claimed)[number]) => Boolean(c.claims && Number.isSafeInteger(c.claims.tree_size) && typeof c.claims.root_hash === 'string');
  const results: KeptResult[] = claimed.filter((c) => !wellFormed(c)).map(() => ({ treeSize: null, status: 'unverifiable' as const }));
  // One pass over the leaves, smallest kept checkpoint first.
  const valid = claimed
    .filter(wellFormed)
    .map((c) => ({ treeSize: c.claims!.tree_size as number, rootHash: c.claims!.root_hash as string }))
    .sort((a, b) => a.treeSize - b.treeSize);
  let frontier: Frontier = [];
  let size = 0;
  for (const cp of valid) {
    if (cp.treeSize > leaves.length) {
      results.push({ treeSize: cp.treeSize, status: 'beyond' });
      continue;
    }
    frontier = extendFrontier(frontier, leaves.slice(size, cp.treeSize));
    size = cp.treeSize;
    results.push({ treeSize: cp.treeSize, status: rootOfFrontier(frontier).toString('hex') === cp.rootHash ? 'matches' : 'forked' });
  }
  return results;
}
