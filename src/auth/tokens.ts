import { randomUUID } from 'node:crypto';
import { errors, jwtVerify, SignJWT, type JWTPayload, type JWTHeaderParameters } from 'jose';
import type { Config } from '../config/index.js';
import { isUuid } from '../http/ids.js';
import type { KeyStore } from './keys.js';
import { SIGNING_ALG } from './keys.js';

/** RFC 9068 access tokens: `typ` tells them apart from any other JWT the gateway might sign. */
export const ACCESS_TOKEN_TYP = 'at+jwt';
const CLOCK_TOLERANCE_SECONDS = 30;
// Header parameters that point at keys elsewhere; they are refused, never followed (RFC 8725 3.10).
const FORBIDDEN_HEADERS = ['jku', 'jwk', 'x5u', 'x5c'] as const;

export interface AccessTokenClaims extends JWTPayload {
  sub: string;
  jti: string;
  agency: string;
  agency_kind: string;
  role: string;
  amr: string[];
  /**
   * When the user (or client) authenticated, in seconds with milliseconds (OIDC `auth_time`): a
   * re-issued console token keeps its sign-in's time, so a session's age and an end of the
   * user's sessions (`users.tokens_valid_after`) are judged by it, not by `iat`.
   */
  auth_time?: number;
  client_id?: string;
  /** When a client acts for the user: the client's own role, which lowers the user's ceiling. */
  client_role?: string;
}

export interface IssueRequest {
  userId: string;
  agency: string;
  agencyKind: string;
  role: string;
  amr: string[];
  /** The authentication this token continues, in ms since the epoch; now if not given. */
  authTime?: number;
  clientId?: string;
  clientRole?: string;
}

export class TokenService {
  constructor(
    private readonly keys: KeyStore,
    private readonly config: Pick<Config, 'TOKEN_ISSUER' | 'TOKEN_AUDIENCE' | 'TOKEN_TTL_SECONDS'>,
  ) {}

  get ttlSeconds(): number {
    return this.config.TOKEN_TTL_SECONDS;
  }

  async issue(req: IssueRequest): Promise<string> {
    const { kid, key } = await this.keys.signingKey();
    return new SignJWT({
      agency: req.agency,
      agency_kind: req.agencyKind,
      role: req.role,
      amr: req.amr,
      auth_time: (req.authTime ?? Date.now()) / 1000,
      ...(req.clientId ? { client_id: req.clientId } : {}),
      ...(req.clientRole ? { client_role: req.clientRole } : {}),
    })
      .setProtectedHeader({ alg: SIGNING_ALG, kid, typ: ACCESS_TOKEN_TYP })
      .setIssuer(this.config.TOKEN_ISSUER)
      .setAudience(this.config.TOKEN_AUDIENCE)
      .setSubject(req.userId)
      .setJti(randomUUID())
      .setIssuedAt()
      .setNotBefore('0s')
      .setExpirationTime(`${this.config.TOKEN_TTL_SECONDS}s`)
      .sign(key);
  }

  /**
   * Verifies signature, pinned algorithm, `typ`, issuer, audience, expiry and age. Throws a
   * TokenRejected with a short machine reason for the access log.
   */
  async verify(token: string): Promise<AccessTokenClaims> {
    try {
      const { payload } = await jwtVerify(token, (header: JWTHeaderParameters) => this.keyFor(header), {
        algorithms: [SIGNING_ALG],
        issuer: this.config.TOKEN_ISSUER,
        audience: this.config.TOKEN_AUDIENCE,
        typ: ACCESS_TOKEN_TYP,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        maxTokenAge: `${this.config.TOKEN_TTL_SECONDS + CLOCK_TOLERANCE_SECONDS}s`,
        requiredClaims: ['sub', 'jti', 'iat', 'exp', 'iss', 'aud'],
      });
      for (const claim of ['agency', 'agency_kind', 'role'] as const) {
        if (typeof payload[claim] !== 'string') throw new TokenRejected('claim_missing');
      }
      // `sub` is a user id: anything else is the token's fault (401), not a database error (503).
      if (!isUuid(String(payload.sub)) || typeof payload.jti !== 'string') throw new TokenRejected('claim_invalid');
      if (payload.auth_time !== undefined && typeof payload.auth_time !== 'number') throw new TokenRejected('claim_invalid');
      return payload as AccessTokenClaims;
    } catch (err) {
      // Anything else (the key table unreachable) is not the token's fault: let it become a 503.
      throw err instanceof errors.JOSEError ? new TokenRejected(err.code) : err;
    }
  }

  private async keyFor(header: JWTHeaderParameters) {
    for (const h of FORBIDDEN_HEADERS) if (h in header) throw new TokenRejected(`header_${h}_refused`);
    if (typeof header.kid !== 'string') throw new TokenRejected('kid_missing');
    const key = await this.keys.verificationKey(header.kid);
    if (!key) throw new TokenRejected('kid_unknown');
    return key;
  }
}

export class TokenRejected extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}
