import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { consistencyProof, EMPTY_ROOT, inclusionProof, leafHash, nodeHash, rootOf, verifyConsistency, verifyInclusion } from '../../src/audit/merkle.js';

// The recursive definition of RFC 9162 2.1.1, as the reference the fast fold must equal.
function mth(d: Buffer[]): Buffer {
  if (d.length === 0) return createHash('sha256').digest();
  if (d.length === 1) return d[0]!;
  let k = 1;
  while (k * 2 < d.length) k *= 2;
  return nodeHash(mth(d.slice(0, k)), mth(d.slice(k)));
}

const leaves = (n: number) => Array.from({ length: n }, (_, i) => leafHash(`entry ${i}`));

describe('Merkle tree (RFC 9162)', () => {
  it('separates leaf and node domains', () => {
    expect(
      leafHash('x').equals(
        createHash('sha256')
          .update(Buffer.from([0]))
          .update('x')
          .digest(),
      ),
    ).toBe(true);
    expect(EMPTY_ROOT.toString('hex')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it('computes the same root as the recursive definition for every size up to 70', () => {
    for (let n = 0; n <= 70; n++) expect(rootOf(leaves(n)).equals(mth(leaves(n))), `size ${n}`).toBe(true);
  });

  it('produces inclusion proofs that verify, and fail for another leaf, index or root', () => {
    for (const n of [1, 2, 3, 5, 8, 13, 31]) {
      const d = leaves(n);
      const root = rootOf(d);
      for (let m = 0; m < n; m++) {
        const proof = inclusionProof(m, d);
        expect(verifyInclusion(m, n, d[m]!, proof, root), `${m}/${n}`).toBe(true);
        expect(verifyInclusion(m, n, leafHash('forged'), proof, root)).toBe(false);
        if (n > 1) expect(verifyInclusion((m + 1) % n, n, d[m]!, proof, root)).toBe(false);
        expect(verifyInclusion(m, n, d[m]!, proof, leafHash('other root'))).toBe(false);
      }
    }
  });

  it('produces consistency proofs that verify, and fail when history was rewritten', () => {
    for (const n of [2, 3, 7, 8, 9, 20]) {
      const d = leaves(n);
      for (let m = 1; m <= n; m++) {
        const proof = consistencyProof(m, d);
        expect(verifyConsistency(m, n, rootOf(d.slice(0, m)), rootOf(d), proof), `${m}->${n}`).toBe(true);
        const rewritten = [...d.slice(0, m - 1), leafHash('edited'), ...d.slice(m)];
        if (m < n) expect(verifyConsistency(m, n, rootOf(d.slice(0, m)), rootOf(rewritten), consistencyProof(m, rewritten))).toBe(false);
      }
    }
  });
});

describe('incremental roots', () => {
  it('gives the same root whether leaves arrive at once or in batches', async () => {
    const { extendFrontier, rootOfFrontier } = await import('../../src/audit/merkle.js');
    const d = leaves(37);
    let frontier = extendFrontier([], []);
    for (const [a, b] of [
      [0, 5],
      [5, 6],
      [6, 16],
      [16, 37],
    ] as const) {
      frontier = extendFrontier(frontier, d.slice(a, b));
      expect(rootOfFrontier(frontier).equals(mth(d.slice(0, b)))).toBe(true);
    }
  });
});
