// `npm run bench`: how long the offline verifier takes for a log of N entries, measured side by
// side at several sizes in one run (ratios matter more than seconds on a noisy machine).
// Synthetic entries shaped like real subject reads; checkpoints every 100 000 entries, signed.
import { randomUUID } from 'node:crypto';
import { CompactSign, exportJWK, generateKeyPair } from 'jose';
import { entryLeafHash, type SealedFields } from '../src/audit/canonical.js';
import { extendFrontier, rootOfFrontier, type Frontier } from '../src/audit/merkle.js';
import { CHECKPOINT_TYP, LOG_ID } from '../src/audit/seal.js';
import { verifyLog, type LogExport } from '../src/audit/verify.js';

const sizes = (process.argv[2] ?? '10000,100000,1000000').split(',').map(Number);
const CHECKPOINT_EVERY = 100_000;

async function build(n: number): Promise<LogExport> {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'bench', alg: 'ES256' };
  const leaves: LogExport['leaves'] = [];
  const checkpoints: LogExport['checkpoints'] = [];
  let frontier: Frontier = [];
  const subject = randomUUID();
  for (let i = 0; i < n; i++) {
    const entry: SealedFields = {
      id: randomUUID(),
      seq: i + 1,
      atMicros: String(1_795_000_000_000_000 + i * 1000),
      requestId: randomUUID(),
      actorUserId: randomUUID(),
      actorUsername: 'clerk@metro-police',
      actorAgency: 'metro-police',
      actorRole: 'records_staff',
      actorClient: null,
      subjectId: subject,
      action: 'subject.read',
      decision: 'allow',
      tier: 'intermediate',
      basis: [
        { tier: 'basic', rule: 'partner-read' },
        { tier: 'intermediate', rule: 'consent', consentId: subject },
      ],
      breakGlass: false,
      reason: null,
      detail: { entries: [{ id: subject, kind: 'diagnosis', tier: 'intermediate' }] },
    };
    const leafHash = entryLeafHash(entry);
    leaves.push({ leafIndex: i, leafHash: leafHash.toString('hex'), entry });
    frontier = extendFrontier(frontier, [leafHash]);
    if ((i + 1) % CHECKPOINT_EVERY === 0 || i === n - 1) {
      const root = rootOfFrontier(frontier).toString('hex');
      const payload = JSON.stringify({ log: LOG_ID, tree_size: i + 1, root_hash: root, issued_at: new Date().toISOString() });
      const jws = await new CompactSign(new TextEncoder().encode(payload))
        .setProtectedHeader({ alg: 'ES256', kid: 'bench', typ: CHECKPOINT_TYP })
        .sign(privateKey);
      checkpoints.push({ treeSize: i + 1, rootHash: root, jws });
    }
  }
  return { version: 1, keys: [jwk], checkpoints, leaves };
}

const results: { n: number; ms: number }[] = [];
for (const n of sizes) {
  const data = await build(n);
  const started = performance.now();
  const report = await verifyLog(data);
  const ms = performance.now() - started;
  if (!report.ok) throw new Error(`verification failed: ${JSON.stringify(report.failure)}`);
  results.push({ n, ms });
  console.log(
    `verify ${n.toLocaleString('en')} entries, ${data.checkpoints.length} checkpoints: ${(ms / 1000).toFixed(2)} s (${((ms * 1000) / n).toFixed(1)} µs/entry)`,
  );
}
const base = results[0]!;
for (const r of results.slice(1)) console.log(`ratio ${r.n}/${base.n} entries: time x${(r.ms / base.ms).toFixed(1)} for size x${r.n / base.n}`);
