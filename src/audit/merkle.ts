import crypto, { createHash } from 'node:crypto';

// RFC 9162 (Certificate Transparency 2.0) section 2.1 Merkle tree hashing with domain separation:
// a leaf is SHA-256(0x00 || data), an interior node SHA-256(0x01 || left || right).
// One-shot hashing (crypto.hash, node >= 20.12) where available: the same digests without
// a Hash object per call, which is most of the cost of hashing a short entry.
const oneShot = (crypto as { hash?: <E extends 'buffer' | 'hex'>(alg: string, data: Buffer | string, enc: E) => E extends 'hex' ? string : Buffer }).hash;
const sha256 = (data: Buffer | string): Buffer => (oneShot ? oneShot('sha256', data, 'buffer') : createHash('sha256').update(data).digest());
const LEAF = Buffer.from([0]);
const NODE = Buffer.from([1]);

// A string leaf is hashed as 0x00 || its UTF-8 bytes; "\0" + s encodes to exactly that.
export const leafHash = (data: Buffer | string) => sha256(Buffer.isBuffer(data) ? Buffer.concat([LEAF, data]) : `\0${data}`);
export const nodeHash = (left: Buffer, right: Buffer) => sha256(Buffer.concat([NODE, left, right], 65));
export const EMPTY_ROOT = createHash('sha256').digest();

// Hex forms for the verifier, which compares with hex seals and reports hex roots. A digest as a
// string costs about half of one as a Buffer: Node allocates each Buffer result separately.
const sha256Hex = (data: Uint8Array): string => (oneShot ? oneShot('sha256', data as Buffer, 'hex') : createHash('sha256').update(data).digest('hex'));
const scratch = Buffer.alloc(65, 1);

/** leafHash as hex, of bytes that already start with the 0x00 leaf prefix. */
export const prefixedLeafHashHex = (prefixed: Uint8Array): string => sha256Hex(prefixed);

/**
 * nodeHash of two hex hashes, as hex: both written into one reused 65-byte buffer (0x01, left,
 * right) instead of a concatenation per node. A malformed hex string leaves bytes of an earlier
 * node in place, so callers check the leaves they are given.
 */
export function nodeHashHex(left: string, right: string): string {
  scratch.write(left, 1, 32, 'hex');
  scratch.write(right, 33, 32, 'hex');
  return sha256Hex(scratch);
}

/** Largest power of two strictly less than n (n > 1). */
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** The roots of the perfect subtrees that make up a tree, largest (leftmost) first. */
export type Frontier = { size: number; hash: Buffer }[];

/** Appends leaves to a frontier: O(new leaves · log n), the state needed for incremental roots. */
export function extendFrontier(frontier: Frontier, leaves: Buffer[]): Frontier {
  const stack = [...frontier];
  for (const leaf of leaves) {
    stack.push({ size: 1, hash: leaf });
    while (stack.length >= 2 && stack[stack.length - 1]!.size === stack[stack.length - 2]!.size) {
      const right = stack.pop()!;
      const left = stack.pop()!;
      stack.push({ size: left.size * 2, hash: nodeHash(left.hash, right.hash) });
    }
  }
  return stack;
}

/** The root of the tree a frontier describes: right-to-left fold, as RFC 9162's MTH splits it. */
export function rootOfFrontier(frontier: Frontier): Buffer {
  if (frontier.length === 0) return EMPTY_ROOT;
  let acc = frontier[frontier.length - 1]!.hash;
  for (let i = frontier.length - 2; i >= 0; i--) acc = nodeHash(frontier[i]!.hash, acc);
  return acc;
}

/** MTH(D[0:n]) over leaf hashes, bottom-up in O(n). */
export const rootOf = (leaves: Buffer[]): Buffer => rootOfFrontier(extendFrontier([], leaves));

/** RFC 9162 2.1.3.1 PATH(m, D[n]): the inclusion proof of leaf m in the tree of these leaves. */
export function inclusionProof(m: number, leaves: Buffer[]): Buffer[] {
  const n = leaves.length;
  if (m < 0 || m >= n) throw new RangeError('leaf index out of range');
  if (n === 1) return [];
  const k = split(n);
  return m < k ? [...inclusionProof(m, leaves.slice(0, k)), rootOf(leaves.slice(k))] : [...inclusionProof(m - k, leaves.slice(k)), rootOf(leaves.slice(0, k))];
}

/** RFC 9162 2.1.3.2: checks an inclusion proof of `leaf` at `index` in a tree of `size` with `root`. */
export function verifyInclusion(index: number, size: number, leaf: Buffer, proof: Buffer[], root: Buffer): boolean {
  if (index >= size) return false;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn === 0 && r.equals(root);
}

/** RFC 9162 2.1.4.1 PROOF(m, D[n]): the consistency proof between the first m leaves and all n. */
export function consistencyProof(m: number, leaves: Buffer[]): Buffer[] {
  const n = leaves.length;
  if (m <= 0 || m > n) throw new RangeError('old size out of range');
  const subproof = (m: number, d: Buffer[], b: boolean): Buffer[] => {
    const n = d.length;
    if (m === n) return b ? [] : [rootOf(d)];
    const k = split(n);
    return m <= k ? [...subproof(m, d.slice(0, k), b), rootOf(d.slice(k))] : [...subproof(m - k, d.slice(k), false), rootOf(d.slice(0, k))];
  };
  return subproof(m, leaves, true);
}

/** RFC 9162 2.1.4.2: checks that the tree (size2, root2) extends the tree (size1, root1). */
export function verifyConsistency(size1: number, size2: number, root1: Buffer, root2: Buffer, proof: Buffer[]): boolean {
  if (size1 > size2) return false;
  if (size1 === size2) return proof.length === 0 && root1.equals(root2);
  if (size1 === 0) return proof.length === 0;
  let path = proof;
  if ((size1 & (size1 - 1)) === 0) path = [root1, ...proof];
  if (path.length === 0) return false;
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (fn % 2 === 1) {
    fn >>= 1;
    sn >>= 1;
  }
  let fr = path[0]!;
  let sr = path[0]!;
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn === 0 && fr.equals(root1) && sr.equals(root2);
}
