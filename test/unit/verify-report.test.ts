import { randomUUID } from 'node:crypto';
import { CompactSign, exportJWK, generateKeyPair } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { entryLeafHash, type SealedFields } from '../../src/audit/canonical.js';
import { extendFrontier, rootOfFrontier, type Frontier } from '../../src/audit/merkle.js';
import { CHECKPOINT_TYP, LOG_ID } from '../../src/audit/seal.js';
import { verifyLog, type LogExport } from '../../src/audit/verify.js';

// The tamper cases the database tests cannot make easily (a malformed seal, an entry sealed
// twice), on a synthetic export. The hasher finds these for entries that have a hash to compare,
// so each case runs inline and on the worker thread in chunks of three, and both must agree with
// the report the verifier always gave.
let base: LogExport;
beforeAll(async () => {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const leaves: LogExport['leaves'] = [];
  let frontier: Frontier = [];
  for (let i = 0; i < 10; i++) {
    const entry: SealedFields = {
      id: randomUUID(),
      seq: i + 1,
      atMicros: String(1_795_000_000_000_000 + i),
      requestId: randomUUID(),
      actorUserId: null,
      actorUsername: null,
      actorAgency: null,
      actorRole: null,
      actorClient: null,
      subjectId: null,
      action: 'subject.search',
      decision: 'allow',
      tier: null,
      basis: [],
      breakGlass: false,
      reason: null,
      detail: { i },
    };
    const hash = entryLeafHash(entry);
    leaves.push({ leafIndex: i, leafHash: hash.toString('hex'), entry });
    frontier = extendFrontier(frontier, [hash]);
  }
  const root = rootOfFrontier(frontier).toString('hex');
  const jws = await new CompactSign(new TextEncoder().encode(JSON.stringify({ log: LOG_ID, tree_size: 10, root_hash: root })))
    .setProtectedHeader({ alg: 'ES256', kid: 'k', typ: CHECKPOINT_TYP })
    .sign(privateKey);
  base = { version: 1, keys: [{ ...(await exportJWK(publicKey)), kid: 'k', alg: 'ES256' }], checkpoints: [{ treeSize: 10, rootHash: root, jws }], leaves };
});

/** The export with some leaves changed (a fresh copy each time). */
const edited = (edit: (leaves: LogExport['leaves']) => void): LogExport => {
  const leaves = base.leaves.map((l) => ({ ...l, entry: l.entry && { ...l.entry } }));
  edit(leaves);
  return { ...base, leaves };
};

const verifyBoth = async (data: LogExport) => {
  const inline = await verifyLog(data);
  expect(await verifyLog(data, undefined, { parallelFrom: 0, chunk: 3 })).toEqual(inline);
  return inline;
};

describe('verifier reports', () => {
  it('passes the untouched export', async () => {
    expect(await verifyBoth(base)).toMatchObject({ ok: true, leaves: 10 });
  });

  it('names a malformed seal of an entry (upper case, short, not a string)', async () => {
    for (const bad of [base.leaves[4]!.leafHash.toUpperCase(), 'abc', 42 as unknown as string]) {
      const report = await verifyBoth(edited((l) => (l[4]!.leafHash = bad)));
      expect(report.failure, String(bad)).toEqual({ leafIndex: 4, reason: 'malformed leaf hash' });
    }
  });

  it('names an entry sealed twice, with its seal well formed or not', async () => {
    const twice = edited((l) => (l[6] = { ...l[2]!, leafIndex: 6 }));
    expect((await verifyBoth(twice)).failure).toEqual({ leafIndex: 6, entryId: base.leaves[2]!.entry!.id, reason: 'entry sealed twice' });
    const malformed = edited((l) => (l[6] = { ...l[2]!, leafIndex: 6, leafHash: 'x' }));
    expect((await verifyBoth(malformed)).failure).toEqual({ leafIndex: 6, reason: 'malformed leaf hash' });
    const altered = edited((l) => (l[6] = { ...l[2]!, leafIndex: 6, entry: { ...l[2]!.entry!, reason: 'edited' } }));
    expect((await verifyBoth(altered)).failure).toMatchObject({ leafIndex: 6, reason: 'entry sealed twice' });
  });

  it('names the first failure in leaf order, whichever thread finds it', async () => {
    const cases: [string, (l: LogExport['leaves']) => void, unknown][] = [
      [
        'altered before twice',
        (l) => {
          l[3]!.entry!.reason = 'edited';
          l[6] = { ...l[2]!, leafIndex: 6 };
        },
        { leafIndex: 3, reason: 'entry does not match its seal (altered)' },
      ],
      ['malformed before a gap', (l) => ((l[2]!.leafHash = 'x'), l.splice(5, 1)), { leafIndex: 2, reason: 'malformed leaf hash' }],
      ['a gap before malformed', (l) => ((l[7]!.leafHash = 'x'), l.splice(5, 1)), { leafIndex: 5, reason: 'leaf 5 is missing (next present is 6)' }],
      ['twice before a missing entry', (l) => ((l[3] = { ...l[1]!, leafIndex: 3 }), (l[8]!.entry = null)), { leafIndex: 3, reason: 'entry sealed twice' }],
      [
        'a missing entry before twice',
        (l) => ((l[8] = { ...l[1]!, leafIndex: 8 }), (l[4]!.entry = null)),
        { leafIndex: 4, reason: 'the entry sealed at this leaf is missing' },
      ],
      ['malformed seal of a missing entry', (l) => ((l[4]!.entry = null), (l[4]!.leafHash = 'x')), { leafIndex: 4, reason: 'malformed leaf hash' }],
    ];
    for (const [name, edit, failure] of cases) expect((await verifyBoth(edited(edit))).failure, name).toMatchObject(failure as object);
  });
});
