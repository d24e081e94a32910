import { extendFrontier, leafHash, rootOfFrontier, type Frontier } from './merkle.js';

/**
 * A run of consecutive leaves for the hashing half of verification: each entry's canonical form
 * as UTF-8 in one buffer (entry k is bytes `ends[k-1]..ends[k]`; an empty range is a leaf whose
 * entry was retired), the hashes the log sealed, and the checkpoint sizes that end inside it.
 */
export interface Chunk {
  start: number;
  bytes: Uint8Array;
  ends: Uint32Array;
  sealed: string[];
  checkpointSizes: number[];
}

export interface ChunkResult {
  start: number;
  /** The first leaf of the chunk whose entry does not hash to its seal, or -1. */
  firstMismatch: number;
  /** The root over all leaves so far at each checkpoint size in the chunk, hex. */
  roots: [number, string][];
  /** The chunk's buffers, handed back for the next chunk (no new allocation per chunk). */
  bytes: Uint8Array;
  ends: Uint32Array;
}

/**
 * Hashes chunks in leaf order, keeping the Merkle frontier between them. The same function runs
 * in the verification worker and, for a small log, on the caller's thread.
 */
export function chunkHasher(): (chunk: Chunk) => ChunkResult {
  let frontier: Frontier = [];
  return ({ start, bytes, ends, sealed, checkpointSizes }) => {
    const data = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const hashes = new Array<Buffer>(sealed.length);
    let firstMismatch = -1;
    let from = 0;
    for (let k = 0; k < sealed.length; k++) {
      const hash = Buffer.from(sealed[k]!, 'hex');
      hashes[k] = hash;
      const to = ends[k]!;
      if (to > from && firstMismatch < 0 && !leafHash(data.subarray(from, to)).equals(hash)) firstMismatch = start + k;
      from = to;
    }
    const roots: [number, string][] = [];
    let done = 0;
    for (const cp of checkpointSizes) {
      frontier = extendFrontier(frontier, hashes.slice(done, cp - start));
      done = cp - start;
      roots.push([cp, rootOfFrontier(frontier).toString('hex')]);
    }
    frontier = extendFrontier(frontier, hashes.slice(done));
    return { start, firstMismatch, roots, bytes, ends };
  };
}
