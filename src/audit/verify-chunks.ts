import { nodeHashHex, prefixedLeafHashHex } from './merkle.js';

/**
 * A run of consecutive leaves for the hashing half of verification: each entry's leaf input,
 * the 0x00 prefix and then its canonical form as UTF-8, in one buffer (entry k is bytes
 * `ends[k-1]..ends[k]`; an empty range is a leaf whose entry was retired), the hashes the log
 * sealed, the entry ids (null for a retired leaf), and the checkpoint sizes that end inside it.
 */
export interface Chunk {
  start: number;
  bytes: Uint8Array;
  ends: Uint32Array;
  sealed: string[];
  ids: (string | null)[];
  checkpointSizes: number[];
}

/** What the hasher finds wrong with a leaf; the caller words the report. */
export type LeafFailure = 'malformed' | 'twice' | 'altered';

export interface ChunkResult {
  start: number;
  /** The first failing leaf of the chunk, or -1. */
  firstFailure: number;
  /**
   * What failed there, the first that applies as the checks ran before: a malformed seal, an
   * entry id already sealed at an earlier leaf, an entry that does not hash to its seal.
   */
  failure?: LeafFailure;
  /** The root over all leaves so far at each checkpoint size in the chunk, hex. */
  roots: [number, string][];
  /** The chunk's buffers, handed back for the next chunk (no new allocation per chunk). */
  bytes: Uint8Array;
  ends: Uint32Array;
}

export const LEAF_HASH = /^[0-9a-f]{64}$/;

/**
 * Hashes chunks in leaf order, keeping the Merkle frontier between them. The same function runs
 * in the verification worker and, for a small log, on the caller's thread. Hashes stay hex
 * strings throughout: a seal equal to the computed hex is well formed, so only a leaf that
 * differs (or has no entry, checked by the caller) needs the format test.
 */
export function chunkHasher(): (chunk: Chunk) => ChunkResult {
  // The frontier: roots of perfect subtrees, largest (leftmost) first, and their sizes.
  const sizes: number[] = [];
  const seenEntries = new Set<string>();
  const hashes: string[] = [];
  const rootHex = (): string => {
    let acc = hashes[hashes.length - 1]!;
    for (let i = hashes.length - 2; i >= 0; i--) acc = nodeHashHex(hashes[i]!, acc);
    return acc;
  };
  return ({ start, bytes, ends, sealed, ids, checkpointSizes }) => {
    let firstFailure = -1;
    let failure: LeafFailure | undefined;
    const roots: [number, string][] = [];
    let nextCheckpoint = 0;
    let from = 0;
    for (let k = 0; k < sealed.length; k++) {
      const seal = sealed[k]!;
      const to = ends[k]!;
      if (firstFailure < 0 && to > from) {
        const altered = prefixedLeafHashHex(bytes.subarray(from, to)) !== seal;
        const id = ids[k];
        const twice = typeof id === 'string' && seenEntries.has(id);
        if (typeof id === 'string') seenEntries.add(id);
        if (altered || twice) {
          firstFailure = start + k;
          failure = altered && !LEAF_HASH.test(seal) ? 'malformed' : twice ? 'twice' : 'altered';
        }
      }
      from = to;
      let size = 1;
      let hash = seal;
      while (sizes.length > 0 && sizes[sizes.length - 1] === size) {
        hash = nodeHashHex(hashes.pop()!, hash);
        sizes.pop();
        size *= 2;
      }
      sizes.push(size);
      hashes.push(hash);
      while (checkpointSizes[nextCheckpoint] === start + k + 1) roots.push([checkpointSizes[nextCheckpoint++]!, rootHex()]);
    }
    return { start, firstFailure, failure, roots, bytes, ends };
  };
}
