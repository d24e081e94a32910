import { describe, expect, it } from 'vitest';
import { base32Decode, base32Encode, hotp, totpCode, totpStep, verifyTotp } from '../../src/auth/totp.js';

// RFC 6238 appendix B (SHA-1 seed), truncated to our 6 digits (the last six of the 8-digit values).
const SEED = base32Encode(Buffer.from('12345678901234567890', 'ascii'));
const VECTORS: [number, string][] = [
  [59, '287082'],
  [1111111109, '081804'],
  [1111111111, '050471'],
  [1234567890, '005924'],
  [2000000000, '279037'],
];

describe('TOTP (RFC 6238)', () => {
  it.each(VECTORS)('at T=%i the code is %s', (seconds, code) => {
    expect(totpCode(SEED, seconds * 1000)).toBe(code);
  });

  it('matches RFC 4226 HOTP values', () => {
    const secret = Buffer.from('12345678901234567890', 'ascii');
    expect([0, 1, 2, 9].map((c) => hotp(secret, c))).toEqual(['755224', '287082', '359152', '520489']);
  });

  it('round-trips base32', () => {
    const buf = Buffer.from([0, 1, 2, 250, 251, 252, 253, 254, 255, 7]);
    expect(base32Decode(base32Encode(buf))).toEqual(buf);
  });

  it('accepts one step of drift either side and nothing further', () => {
    const at = 1_700_000_000_000;
    const step = totpStep(at);
    for (const d of [-1, 0, 1]) expect(verifyTotp(SEED, totpCode(SEED, at + d * 30_000), null, at)).toBe(step + d);
    for (const d of [-3, -2, 2, 3]) expect(verifyTotp(SEED, totpCode(SEED, at + d * 30_000), null, at)).toBeUndefined();
  });

  it('refuses a step at or before the last accepted one (replay)', () => {
    const at = 1_700_000_000_000;
    const code = totpCode(SEED, at);
    expect(verifyTotp(SEED, code, totpStep(at), at)).toBeUndefined();
    expect(verifyTotp(SEED, code, totpStep(at) - 1, at)).toBe(totpStep(at));
  });

  it('refuses malformed codes', () => {
    for (const bad of ['', '12345', '1234567', 'abcdef', '12 345']) expect(verifyTotp(SEED, bad, null)).toBeUndefined();
  });
});
