import type { Request } from 'express';
import { decodeJwt } from 'jose';
import type { AppDeps } from '../../deps.js';
import type { Principal } from '../../auth/principal.js';
import { AUDIT_ACTIONS as A } from '../../audit/vocabulary.js';
import { OAuthError } from '../../errors/problems.js';
import { unsafeJson } from '../../http/validate.js';
import type { z } from 'zod';

export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
}

/** Parses a grant's fields strictly: a missing, unknown or malformed one is `invalid_request`. */
export function parseGrant<T>(schema: z.ZodType<T>, body: unknown): T {
  // A NUL, a lone surrogate or deep nesting is malformed input here too, never a database error.
  if (unsafeJson(body)) throw new OAuthError('invalid_request', 'The request is missing a field, or has an unknown or malformed one.');
  const parsed = schema.safeParse(body ?? {});
  if (!parsed.success) throw new OAuthError('invalid_request', 'The request is missing a field, or has an unknown or malformed one.');
  return parsed.data;
}

/** Logs a refused grant (failing closed) and answers `error` (invalid_grant unless told otherwise). */
export async function refuseGrant(
  { runner }: AppDeps,
  req: Request,
  reason: string,
  detail: Record<string, unknown>,
  error: OAuthError = new OAuthError('invalid_grant', 'The credentials are not valid.'),
): Promise<never> {
  await runner.deny({ requestId: req.id, action: A.tokenIssue, decision: 'deny', reason, detail }).catch(() => {
    throw new OAuthError('temporarily_unavailable');
  });
  throw error;
}

/** Signs an access token for `principal` and logs its issue; no token leaves unless the entry is written. */
export async function issueToken(
  { tokens, runner }: AppDeps,
  req: Request,
  principal: Omit<Principal, 'jti' | 'amr'>,
  amr: string[],
  /** A console re-issue continues the session's sign-in (ms); a grant authenticates now. */
  authTime?: number,
): Promise<TokenResponse> {
  const accessToken = await tokens.issue({
    userId: principal.userId,
    agency: principal.agency,
    agencyKind: principal.agencyKind,
    role: principal.role,
    amr,
    ...(authTime !== undefined ? { authTime } : {}),
    ...(principal.clientId ? { clientId: principal.clientId } : {}),
    ...(principal.clientRole ? { clientRole: principal.clientRole } : {}),
  });
  const jti = decodeJwt(accessToken).jti!;
  await runner.record({ requestId: req.id, actor: { ...principal, jti, amr }, action: A.tokenIssue, decision: 'allow', detail: { jti, amr } }).catch(() => {
    throw new OAuthError('temporarily_unavailable');
  });
  return { access_token: accessToken, token_type: 'Bearer', expires_in: tokens.ttlSeconds };
}
