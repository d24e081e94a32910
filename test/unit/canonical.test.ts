import { describe, expect, it } from 'vitest';
import { entryLeafHash, stableStringify, type SealedFields } from '../../src/audit/canonical.js';
import { leafHash } from '../../src/audit/merkle.js';

// The client's X-Request-Id joined the sealed fields (migration 0010) without changing the hash
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
