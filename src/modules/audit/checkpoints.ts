import { Router } from 'express';
import { and, eq } from 'drizzle-orm';
import { z } from 'zod';
import type { AppDeps } from '../../deps.js';
import { consistencyProof, inclusionProof } from '../../audit/merkle.js';
import { allPublicKeys, latestCheckpoint, sealedLeaves, sealOf } from '../../audit/seal.js';
import { AUDIT_ACTIONS as A } from '../../audit/vocabulary.js';
import { auditCheckpoints, auditSealQueue } from '../../db/schema/index.js';
import { BadRequest, Conflict, NotFound } from '../../errors/problems.js';
import { idParams, validate } from '../../http/validate.js';
import type { Executor } from '../../db/client.js';

const size = z.coerce.number().int().min(1);
export const proofQuery = z.strictObject({ treeSize: size.optional() });
export const consistencyQuery = z.strictObject({ from: size, to: size });

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

/**
 * Signed checkpoints of the access log and proofs against them (RFC 9162 style):
 * GET /checkpoints/latest (partners and compliance), GET /checkpoints/keys (every public key
 * that ever signed, for auditors to pin), GET /checkpoints/consistency?from=&to=
 * (partners and compliance), GET /entries/:id/proof?treeSize= (compliance). Proofs read every
 * sealed leaf hash: O(n) per request, acceptable for compliance queries, not for a hot path.
 */
export function checkpointsRouter({ pdp, runner }: Pick<AppDeps, 'pdp' | 'runner'>): Router {
  const router = Router();

  // Checkpoints are signed on the policy's schedule by the background sealer, never by a read.
  router.get('/checkpoints/latest', pdp.authorize('read', 'Checkpoint', A.checkpointRead), async (req, res) => {
    const latest = await runner.run(req, A.checkpointRead, async ({ tx, note }) => {
      const cp = await latestCheckpoint(tx);
      if (!cp) throw new NotFound('checkpoint');
      note({ detail: { treeSize: cp.treeSize } });
      return cp;
    });
    res.json(present(latest));
  });

  // The JWKS lists only keys that may still verify tokens; old checkpoints need retired keys too.
  router.get('/checkpoints/keys', pdp.authorize('read', 'Checkpoint', A.checkpointKeysRead), async (req, res) => {
    const published = await runner.run(req, A.checkpointKeysRead, async ({ tx, note }) => {
      const all = await allPublicKeys(tx);
      note({ detail: { keys: all.length } });
      return all;
    });
    res.json({ keys: published });
  });

  router.get('/checkpoints/consistency', pdp.authorize('read', 'Checkpoint', A.proofRead), validate({ query: consistencyQuery }), async (req, res) => {
    const { from, to } = res.locals.query as z.infer<typeof consistencyQuery>;
    if (from > to) throw new BadRequest('`from` must not exceed `to`.');
    const body = await runner.run(req, A.proofRead, async ({ tx, note }) => {
      const [a, b] = [await checkpointAt(tx, from), await checkpointAt(tx, to)];
      note({ detail: { from, to } });
      return { from: present(a), to: present(b), proof: consistencyProof(from, await sealedLeaves(tx, to)).map((h) => h.toString('hex')) };
    });
    res.json(body);
  });

  router.get('/entries/:id/proof', pdp.authorize('read', 'AuditEvent', A.proofRead), validate({ params: idParams, query: proofQuery }), async (req, res) => {
    const entryId: string = res.locals.params.id;
    const { treeSize } = res.locals.query as z.infer<typeof proofQuery>;
    // Against the latest checkpoint by default; an entry sealed since is 409 until the next one.
    const body = await runner.run(req, A.proofRead, async ({ tx, note }) => {
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
    });
    res.json(body);
  });

  return router;
}
