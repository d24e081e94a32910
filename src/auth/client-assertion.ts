import { and, eq, lt, sql } from 'drizzle-orm';
import { base64url, decodeJwt, decodeProtectedHeader, errors, importJWK, jwtVerify, type JWK, type JWTPayload, type ProtectedHeaderParameters } from 'jose';
import type { Executor } from '../db/client.js';
import { clientAssertions } from '../db/schema/index.js';

/** RFC 7523 section 2.2: the only client_assertion_type the token endpoint understands. */
export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** Clock skew tolerated on exp, nbf and iat, in seconds (the same as for access tokens). */
export const ASSERTION_CLOCK_SKEW_SECONDS = 30;
/** Longest accepted assertion lifetime: exp at most this long after iat and after now. */
export const ASSERTION_MAX_LIFETIME_SECONDS = 300;

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
// Header parameters that point at keys elsewhere or embed one: refused, never followed (RFC 8725 3.10).
const FORBIDDEN_HEADERS = ['jku', 'jwk', 'x5u', 'x5c'] as const;
// `typ`, when sent, must say "a JWT" or "a client-authentication JWT" (draft-ietf-oauth-rfc7523bis),
// so another kind of JWT signed with the same key (an ID token, an access token) is not taken for one.
const ACCEPTED_TYP = new Set(['jwt', 'client-authentication+jwt']);
// Private members of any key type; a registered key set must hold public keys only.
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k', 'priv'] as const;
const MAX_KEYS = 10;
const KID = /^[\x21-\x7e]{1,128}$/;

export type ClientAssertionAlg = 'ES256' | 'EdDSA' | 'RS256';

/** The one algorithm a key may verify, fixed by its type (never by the assertion's header). */
export function pinnedAlgorithm(jwk: JWK): ClientAssertionAlg | undefined {
  if (jwk.kty === 'EC' && jwk.crv === 'P-256' && typeof jwk.x === 'string' && typeof jwk.y === 'string') return 'ES256';
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519' && typeof jwk.x === 'string') return 'EdDSA';
  if (jwk.kty === 'RSA' && typeof jwk.n === 'string' && typeof jwk.e === 'string' && modulusBits(jwk.n) >= 2048) return 'RS256';
  return undefined;
}

function modulusBits(n: string): number {
  try {
    return base64url.decode(n).length * 8;
  } catch {
    return 0;
  }
}

/** Only the public members of a key, with its kid, `use: sig` and the pinned alg. */
function publicOnly(jwk: JWK, alg: ClientAssertionAlg): JWK {
  const members =
    jwk.kty === 'EC'
      ? { kty: 'EC', crv: jwk.crv, x: jwk.x, y: jwk.y }
      : jwk.kty === 'OKP'
        ? { kty: 'OKP', crv: jwk.crv, x: jwk.x }
        : { kty: 'RSA', n: jwk.n, e: jwk.e };
  return { ...members, kid: jwk.kid, use: 'sig', alg };
}

/** Why a key in a registered set is unusable, or undefined when it is fine. */
function keyProblem(jwk: JWK): string | undefined {
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) return 'is not an object';
  if (typeof jwk.kid !== 'string' || !KID.test(jwk.kid)) return 'needs a printable kid of at most 128 characters';
  if (PRIVATE_MEMBERS.some((m) => m in jwk)) return 'holds private key material';
  if ('x5u' in jwk || 'jku' in jwk) return 'points at a key elsewhere (x5u)';
  const alg = pinnedAlgorithm(jwk);
  if (!alg) return 'is not a P-256 EC, Ed25519 OKP or 2048-bit-or-larger RSA public key';
  if (jwk.alg !== undefined && jwk.alg !== alg) return `must use ${alg}`;
  if (jwk.use !== undefined && jwk.use !== 'sig') return 'is not a signing key (use)';
  if (jwk.key_ops !== undefined && !(Array.isArray(jwk.key_ops) && jwk.key_ops.includes('verify'))) return 'is not a verification key (key_ops)';
  return undefined;
}

export class InvalidJwks extends Error {}

/** Checks that each key of a normalized set really imports (points on the curve, sane sizes). */
export async function assertJwksImport(jwks: { keys: JWK[] }): Promise<void> {
  for (const [i, jwk] of jwks.keys.entries()) {
    await importJWK(jwk, jwk.alg).catch(() => {
      throw new InvalidJwks(`jwks.keys[${i}] is not a valid ${jwk.alg} public key`);
    });
  }
}

/**
 * Checks a client's JWK set for registration and returns it normalized: public members only,
 * unique kids, each key with `use: sig` and its pinned `alg`. Throws InvalidJwks naming the problem.
 */
export function normalizeClientJwks(jwks: unknown): { keys: JWK[] } {
  const keys = (jwks as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0 || keys.length > MAX_KEYS) throw new InvalidJwks(`jwks must be {"keys": [...]} with 1 to ${MAX_KEYS} keys`);
  const kids = new Set<string>();
  return {
    keys: keys.map((jwk: JWK, i) => {
      const problem = keyProblem(jwk);
      if (problem) throw new InvalidJwks(`jwks.keys[${i}] ${problem}`);
      if (kids.has(jwk.kid!)) throw new InvalidJwks(`jwks.keys[${i}] repeats kid`);
      kids.add(jwk.kid!);
      return publicOnly(jwk, pinnedAlgorithm(jwk)!);
    }),
  };
}

/** A refused assertion; `reason` is a short machine word for the access log. */
export class AssertionRejected extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

export interface UnverifiedAssertion {
  header: ProtectedHeaderParameters;
  /** The claimed client (iss), when it is a plausible client id; not yet verified. */
  issuer?: string;
}

/** Reads header and claimed issuer without trusting them; refuses key-pointing headers at once. */
export function peekAssertion(assertion: string): UnverifiedAssertion {
  if (!COMPACT_JWS.test(assertion)) throw new AssertionRejected('assertion-malformed');
  let header: ProtectedHeaderParameters;
  let payload: JWTPayload;
  try {
    header = decodeProtectedHeader(assertion);
    payload = decodeJwt(assertion);
  } catch {
    throw new AssertionRejected('assertion-malformed');
  }
  for (const h of FORBIDDEN_HEADERS) if (h in header) throw new AssertionRejected(`header-${h}-refused`);
  const issuer = typeof payload.iss === 'string' && payload.iss.length > 0 && payload.iss.length <= 200 ? payload.iss : undefined;
  return { header, issuer };
}

export interface VerifiedAssertion {
  jti: string;
  /** When the replay record may be forgotten: exp plus the tolerated skew. */
  forgetAfter: Date;
}

/**
 * Verifies a client assertion against the client's own registered keys: kid looked up among
 * those only, the algorithm pinned to the key's type, iss = sub = clientId, aud one of
 * `audiences` (every value of an array aud must be ours), exp, iat and jti present, exp in the
 * future and at most five minutes after iat and after now, iat not in the future, nbf honoured.
 */
export async function verifyClientAssertion(
  assertion: string,
  header: ProtectedHeaderParameters,
  client: { clientId: string; jwks: unknown },
  audiences: string[],
  now = new Date(),
): Promise<VerifiedAssertion> {
  if (typeof header.kid !== 'string') throw new AssertionRejected('kid-missing');
  const registered = (client.jwks as { keys?: unknown } | null)?.keys;
  const jwk = Array.isArray(registered) ? (registered as JWK[]).find((k) => k && typeof k === 'object' && k.kid === header.kid) : undefined;
  if (!jwk) throw new AssertionRejected('kid-unknown');
  // A stored key that would not pass registration today is not used either.
  if (keyProblem(jwk)) throw new AssertionRejected('key-unusable');
  const alg = pinnedAlgorithm(jwk)!;
  if (header.alg !== alg) throw new AssertionRejected('alg-not-allowed');
  if (
    header.typ !== undefined &&
    !ACCEPTED_TYP.has(
      String(header.typ)
        .toLowerCase()
        .replace(/^application\//, ''),
    )
  )
    throw new AssertionRejected('typ-refused');

  let payload: JWTPayload;
  try {
    const key = await importJWK(publicOnly(jwk, alg), alg);
    ({ payload } = await jwtVerify(assertion, key, {
      algorithms: [alg],
      issuer: client.clientId,
      subject: client.clientId,
      audience: audiences,
      clockTolerance: ASSERTION_CLOCK_SKEW_SECONDS,
      requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat', 'jti'],
      currentDate: now,
    }));
  } catch (err) {
    throw new AssertionRejected(joseReason(err));
  }

  const nowSeconds = Math.floor(now.getTime() / 1000);
  const { exp, iat, jti, aud } = payload as Required<Pick<JWTPayload, 'exp' | 'iat' | 'jti' | 'aud'>>;
  if ((Array.isArray(aud) ? aud : [aud]).some((a) => !audiences.includes(a))) throw new AssertionRejected('aud-foreign');
  if (typeof iat !== 'number' || iat > nowSeconds + ASSERTION_CLOCK_SKEW_SECONDS) throw new AssertionRejected('iat-in-future');
  if (exp - iat > ASSERTION_MAX_LIFETIME_SECONDS || exp > nowSeconds + ASSERTION_MAX_LIFETIME_SECONDS + ASSERTION_CLOCK_SKEW_SECONDS) {
    throw new AssertionRejected('lifetime-too-long');
  }
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > 200) throw new AssertionRejected('jti-invalid');
  return { jti, forgetAfter: new Date((exp + ASSERTION_CLOCK_SKEW_SECONDS) * 1000) };
}

function joseReason(err: unknown): string {
  if (err instanceof errors.JWTExpired) return err.claim === 'exp' ? 'expired' : `claim-${err.claim}`;
  if (err instanceof errors.JWTClaimValidationFailed) return err.reason === 'missing' ? `${err.claim}-missing` : `claim-${err.claim}`;
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'signature-invalid';
  if (err instanceof errors.JOSEAlgNotAllowed) return 'alg-not-allowed';
  if (err instanceof errors.JOSEError) return 'assertion-invalid';
  // A key WebCrypto will not import, or any other surprise, is still the assertion's problem.
  return 'assertion-invalid';
}

/**
 * Accepts a verified assertion's jti once per client (RFC 7523 section 3, item 7): true the first
 * time, false on replay. Records of the client's expired assertions are purged first, so a
 * jti may come back once the assertion that used it can no longer be accepted.
 */
export async function consumeAssertionJti(db: Executor, clientId: string, jti: string, forgetAfter: Date): Promise<boolean> {
  await db.delete(clientAssertions).where(and(eq(clientAssertions.clientId, clientId), lt(clientAssertions.expiresAt, sql`now()`)));
  const accepted = await db
    .insert(clientAssertions)
    .values({ clientId, jti, expiresAt: forgetAfter })
    .onConflictDoNothing()
    .returning({ jti: clientAssertions.jti });
  return accepted.length === 1;
}
