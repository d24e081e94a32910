import type { Request } from 'express';
import type { AppDeps } from '../../app.js';
import { OAuthError } from '../../errors/problems.js';
import type { TokenResponse } from './issue.js';

/** grant_type=client_credentials with a private_key_jwt client assertion (RFC 7523). */
export async function clientCredentialsGrant(_deps: AppDeps, _req: Request): Promise<TokenResponse> {
  throw new OAuthError('unsupported_grant_type', 'Machine clients are not enabled on this gateway yet.');
}
