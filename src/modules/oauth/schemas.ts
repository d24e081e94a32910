import { z } from 'zod';

// What /oauth takes and answers besides the grants' own bodies (password-grant.ts,
// client-credentials-grant.ts, enrolment.ts): documented in src/http/openapi.ts.

export const revokeBody = z.strictObject({ token: z.string().min(1).max(8192), token_type_hint: z.string().max(50).optional() });

/** An RFC 6749 error object: what every /oauth refusal answers. */
export const OAuthError = z
  .object({
    error: z.enum([
      'invalid_request',
      'invalid_grant',
      'invalid_client',
      'unsupported_grant_type',
      'unauthorized_client',
      'server_error',
      'temporarily_unavailable',
    ]),
    error_description: z.string().optional(),
  })
  .meta({ id: 'OAuthError' });

export const TokenResponse = z
  .object({ access_token: z.string(), token_type: z.literal('Bearer'), expires_in: z.number().int() })
  .meta({ id: 'TokenResponse' });

export const EnrolmentStarted = z.object({ totp_secret: z.string(), otpauth_uri: z.string(), recovery_codes: z.array(z.string()) });
export const EnrolmentConfirmed = z.object({ enrolled: z.literal(true) });
