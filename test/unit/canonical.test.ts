import { createHash, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { entryLeafHash, stableStringify, type SealedFields } from '../../src/audit/canonical.js';
import { leafHash, nodeHash } from '../../src/audit/merkle.js';

// The canonical form and the hashes were rewritten for speed (issue 11); entries sealed before
// must still verify, so the output must be byte for byte what the first versions gave.
function referenceStringify(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(referenceStringify).join(',')}]`;
  const obj = value as Record<string, unknown>;
  return `{${Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${referenceStringify(obj[k])}`)
    .join(',')}}`;
}
const referenceSha = (...parts: Buffer[]) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};

const samples: unknown[] = [
  null,
  0,
  -1.5e-7,
  'tab\tquote"backslash\\ \u2028 é 😀 \ud800',
  [],
  {},
  [1, undefined, null, 'x', { b: 1, a: [undefined, { z: undefined, y: 2 }] }],
  { Z: 1, a: 2, _: 3, '': 4, é: 5, '10': 6, '9': 7, nested: { k: [true, false], u: undefined } },
];

describe('canonical form', () => {
  it('stableStringify gives the reference bytes for every kind of value', () => {
    for (const v of samples) expect(stableStringify(v)).toBe(referenceStringify(v));
  });

  it('an entry hashes to the same leaf as with the reference encoding and hashing', () => {
    const id = randomUUID();
    const entry: SealedFields = {
      id,
      seq: 42,
      atMicros: '1795000000000123',
      requestId: 'req-1',
      actorUserId: randomUUID(),
      actorUsername: 'clerk@metro-police',
      actorAgency: 'metro-police',
      actorRole: 'records_staff',
      actorClient: null,
      subjectId: randomUUID(),
      action: 'subject.read',
      decision: 'allow',
      tier: 'intermediate',
      basis: [
        { tier: 'basic', rule: 'partner-read' },
        { rule: 'consent', tier: 'intermediate', consentId: id },
      ],
      breakGlass: false,
      reason: 'a \\u0007 escaped reason',
      detail: { entries: [{ id, kind: 'diagnosis', tier: 'intermediate' }], note: 'ünïcode' },
    };
    const reference = referenceSha(Buffer.from([0]), Buffer.from(referenceStringify({ v: 1, ...entry, seq: String(entry.seq) }), 'utf8'));
    expect(entryLeafHash(entry).equals(reference)).toBe(true);
    const a = leafHash('a');
    const b = leafHash(Buffer.from('b'));
    expect(b.equals(referenceSha(Buffer.from([0]), Buffer.from('b')))).toBe(true);
    expect(nodeHash(a, b).equals(referenceSha(Buffer.from([1]), a, b))).toBe(true);
  });
});
