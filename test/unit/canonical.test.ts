import { createHash, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { entryCanonical, entryLeafHash, stableStringify, type SealedFields } from '../../src/audit/canonical.js';
import { leafHash, nodeHash, nodeHashHex, prefixedLeafHashHex } from '../../src/audit/merkle.js';

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

// The client's X-Request-Id joined the sealed fields (migration 0012) without changing the hash
// of any entry that has none: every entry sealed before the column existed still verifies.
const entry: SealedFields = {
  id: '0b5c2f3e-1d6a-4f7b-9a3c-5e2d1f0a9b8c',
  seq: 42,
  atMicros: '1764760000000000',
  requestId: '9f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f',
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
  detail: {},
};
// The encoding as it was before the column: version 1, every field, seq as a string.
const before = (e: SealedFields) => leafHash(stableStringify({ v: 1, ...e, seq: String(e.seq) }));

describe('entryLeafHash and client_request_id', () => {
  it('an entry without a client request id (null, or absent as in older exports) hashes exactly as before', () => {
    expect(entryLeafHash({ ...entry, clientRequestId: null }).equals(before(entry))).toBe(true);
    expect(entryLeafHash(entry).equals(before(entry))).toBe(true);
  });

  it("an entry with one is covered by its hash: changing or removing the client's id breaks the seal", () => {
    const sealed = entryLeafHash({ ...entry, clientRequestId: 'dispatch-call-0042' });
    expect(sealed.equals(before(entry))).toBe(false);
    expect(sealed.equals(entryLeafHash({ ...entry, clientRequestId: 'dispatch-call-0043' }))).toBe(false);
    expect(sealed.equals(entryLeafHash({ ...entry, clientRequestId: null }))).toBe(false);
  });
});

describe('entryCanonical (the fast form of the leaf bytes)', () => {
  // What the encoding was defined as: every key of the entry, sorted, version 1, seq as a string.
  const defined = ({ clientRequestId, ...e }: SealedFields) =>
    referenceStringify({ v: 1, ...e, seq: String(e.seq), ...(clientRequestId != null ? { clientRequestId } : {}) });
  const variants: SealedFields[] = [
    entry,
    { ...entry, clientRequestId: null },
    { ...entry, clientRequestId: 'dispatch "call" \u2028 0042' },
    { ...entry, actorUsername: 'é 😀 \ud800 tab\t', reason: 'a \\u0007 escaped reason', tier: 'full', breakGlass: true },
    { ...entry, basis: [{ rule: 'consent', tier: 'intermediate', consentId: entry.id }], detail: { matches: ['b', 'a'], truncated: true, z: { y: [null] } } },
    { ...entry, reason: undefined as unknown as null },
    // Where one JSON.stringify of a sorted copy could differ from the definition: the general path.
    ...samples.map((detail) => ({ ...entry, detail })),
    { ...entry, detail: JSON.parse('{"__proto__": {"b": 1, "a": 2}, "x": 1}') as unknown },
    { ...entry, detail: { when: new Date(0) } },
    { ...entry, detail: { list: [1, undefined, 2] } },
    { ...entry, basis: [{ toJSON: 'not a function', rule: 'r' }, [[], {}]] },
    // A key the entry should not carry (the sealer's queue id): the general path, same bytes.
    { ...entry, queuedId: '7' } as SealedFields,
    // Fields written one by one since: values of unexpected types at the top level, missing
    // fields, unicode and escapes, a set but empty client request id, nested objects with
    // unsorted and integer-like keys, arrays with holes, numbers JSON writes oddly.
    { ...entry, actorUsername: 42, tier: true, reason: { b: 1, a: [2, { d: null, c: 'x' }] }, breakGlass: 'yes' } as unknown as SealedFields,
    { ...entry, action: undefined, decision: null, subjectId: undefined } as unknown as SealedFields,
    { ...entry, seq: '42' as unknown as number },
    { ...entry, seq: 42n as unknown as number },
    { ...entry, seq: -0 },
    { ...entry, reason: (() => 'f') as unknown as string, detail: { f: () => 1, s: Symbol('s') } },
    { ...entry, reason: Symbol('r') as unknown as string },
    { ...entry, clientRequestId: '' },
    { ...entry, clientRequestId: undefined },
    { ...entry, actorUsername: 'del \u007f, nul \u0000, pair 😀, lone \udc00, line \u2028', requestId: 'quote " backslash \\' },
    { ...entry, detail: { 'é 😀': 1, 'k\ud800': 2, '"q"': 3, ' ': 4, '\u0001': 5 } },
    {
      ...entry,
      basis: [{ z: { b: [{ d: 1, c: 2 }], a: -0 }, y: [NaN, Infinity, -Infinity, 1e21, -1.5e-7, 0.1] }],
      detail: { '10': 1, '9': 2, b: 3, '01': 4, a: { '2': [], '1': {} } },
    },
    { ...entry, basis: [1, , 3], detail: { holes: new Array(3), undef: [undefined], mixed: [null, undefined, 'x'] } },
    { ...entry, detail: Object.assign(Object.create(null) as object, { b: 1, a: 2 }) },
    { ...entry, detail: { map: new Map([['a', 1]]), boxed: new String('ab'), typed: new Uint8Array([3, 4]) } },
    // An entry with a prototype: the definition copies its own fields only.
    Object.assign(Object.create({ inherited: 1 }) as object, entry) as SealedFields,
  ];

  it('gives the defined bytes for every variant, including one with a foreign key', () => {
    for (const v of variants) expect(entryCanonical(v)).toBe(defined(v));
  });

  it('and so the same leaf hash as the definition', () => {
    for (const v of variants) expect(entryLeafHash(v).equals(leafHash(defined(v)))).toBe(true);
  });

  it('fails as the definition does on a value JSON cannot write', () => {
    const bad = { ...entry, detail: { n: 1n } };
    expect(() => defined(bad)).toThrow(TypeError);
    expect(() => entryCanonical(bad)).toThrow(TypeError);
  });
});

describe('hex hashing for the verifier', () => {
  it('gives the hashes leafHash and nodeHash give', () => {
    const a = leafHash('a');
    const b = leafHash(Buffer.from('b'));
    expect(prefixedLeafHashHex(Buffer.from('\0é 😀', 'utf8'))).toBe(leafHash('é 😀').toString('hex'));
    expect(nodeHashHex(a.toString('hex'), b.toString('hex'))).toBe(nodeHash(a, b).toString('hex'));
    // The reused buffer carries nothing from one node to the next.
    expect(nodeHashHex(b.toString('hex'), a.toString('hex'))).toBe(nodeHash(b, a).toString('hex'));
  });
});
