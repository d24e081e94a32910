import { and, eq } from 'drizzle-orm';
import type { AuditScope } from '../../audit/audited.js';
import { consistencyProof, inclusionProof } from '../../audit/merkle.js';
import { allPublicKeys, latestCheckpoint, sealedLeaves, sealOf } from '../../audit/seal.js';
import { auditCheckpoints, auditSealQueue } from '../../db/schema/index.js';
import { BadRequest, Conflict, NotFound } from '../../errors/problems.js';
import type { Executor } from '../../db/client.js';

// Signed checkpoints of the access log and proofs against them (RFC 9162 style), each under the
// audited runner: the latest checkpoint, every public key that ever signed (for auditors to pin),
// consistency and inclusion proofs. Proofs read every sealed leaf hash: O(n) per request,
// acceptable for compliance queries, not for a hot path. Checkpoints are signed on the policy's
// schedule by the background sealer, never by a read.

const present = (c: { treeSize: number; rootHash: string; issuedAt: Date; kid: string; jws: string }) => ({
  treeSize: c.treeSize,
  rootHash: c.rootHash,
  issuedAt: c.issuedAt,
  kid: c.kid,
  jws: c.jws,
});

async function isQueued(db: Executor, entryId: string): Promise<boolean> {
  return (await db.select({ id: auditSealQueue.entryId }).from(auditSealQueue).where(eq(auditSealQueue.entryId, entryId)).limit(1)).length > 0;
}

/** Proofs are only given against signed checkpoints, so a verifier can anchor them. */
async function checkpointAt(db: Executor, treeSize: number) {
  const [row] = await db
    .select()
    .from(auditCheckpoints)
    .where(and(eq(auditCheckpoints.treeSize, treeSize)))
    .limit(1);
  if (!row) throw new BadRequest(`No checkpoint has tree size ${treeSize}.`);
  return row;
}

export async function latest({ tx, note }: AuditScope) {
  const cp = await latestCheckpoint(tx);
  if (!cp) throw new NotFound('checkpoint');
  note({ detail: { treeSize: cp.treeSize } });
  return present(cp);
}

/** The JWKS lists only keys that may still verify tokens; old checkpoints need retired keys too. */
export async function signingKeys({ tx, note }: AuditScope) {
  const all = await allPublicKeys(tx);
  note({ detail: { keys: all.length } });
  return { keys: all };
}

export async function consistency({ tx, note }: AuditScope, from: number, to: number) {
  const [a, b] = [await checkpointAt(tx, from), await checkpointAt(tx, to)];
  note({ detail: { from, to } });
  return { from: present(a), to: present(b), proof: consistencyProof(from, await sealedLeaves(tx, to)).map((h) => h.toString('hex')) };
}

/** Against the latest checkpoint by default; an entry sealed since is 409 until the next one. */
export async function inclusion({ tx, note }: AuditScope, entryId: string, treeSize: number | undefined) {
  note({ detail: { entryId } });
  const seal = await sealOf(tx, entryId);
  if (!seal) {
    // Logged but not sealed yet: the sealer takes it on its next round, a checkpoint after that.
    if (await isQueued(tx, entryId)) throw new Conflict('The entry is not sealed yet; ask again after the next checkpoint.');
    throw new NotFound('sealed entry');
  }
  const cp = treeSize ? await checkpointAt(tx, treeSize) : await latestCheckpoint(tx);
  if (!cp) throw new NotFound('checkpoint');
  if (seal.leafIndex >= cp.treeSize) throw new Conflict('The entry was sealed after that checkpoint; ask for a later one.');
  const proof = inclusionProof(seal.leafIndex, await sealedLeaves(tx, cp.treeSize));
  return { entryId, leafIndex: seal.leafIndex, leafHash: seal.leafHash, checkpoint: present(cp), proof: proof.map((h) => h.toString('hex')) };
}
