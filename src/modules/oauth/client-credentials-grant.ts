/*
 * grant_type=client_credentials with a private_key_jwt client assertion (RFC 6749 section 4.4,
 * RFC 7521 section 4.2, RFC 7523 sections 2.2 and 3, OpenID Connect Core section 9).
 *
 * Named steps, in order; the first that fails ends the request:
 *   1. fields            exactly grant_type, client_assertion_type (the jwt-bearer URN),
 *                        client_assertion, and optionally client_id, scope, on_behalf_of;
 *                        anything else, missing or malformed → invalid_request (not logged, like
 *                        every grant's parse failure).
 *   2. one-method        no Authorization header besides the assertion (RFC 7521 4.2.1) → invalid_client.
 *   3. assertion-shape   a compact JWS whose header has no jku, jwk, x5u or x5c (refused, never
 *                        followed) and whose claimed iss is a plausible client id → invalid_client.
 *   4. client-id         the client_id field, when sent, equals the assertion's iss → invalid_client.
 *   5. client            a registered, enabled, approved client in an enabled agency, whose service user
 *                        is an enabled 'service' user of that agency → invalid_client.
 *   6. signature         kid looked up in the client's registered JWK set only; alg pinned to the
 *                        key's type (ES256 for P-256, EdDSA for Ed25519, RS256 for RSA ≥ 2048);
 *                        `none`, HMAC and anything else refused; typ, if sent, JWT or
 *                        client-authentication+jwt → invalid_client.
 *   7. claims            iss = sub = client_id; aud the token endpoint URL or the issuer (every
 *                        value of an array aud must be one of those); exp, iat, jti required;
 *                        exp not passed, at most 5 minutes after iat and after now; iat not in
 *                        the future; nbf honoured; 30 s skew → invalid_client.
 *   8. replay            the jti is recorded in client_assertions until the assertion expires; a
 *                        second use of it → invalid_client.
 *   9. on-behalf-of      when sent, an enabled, approved person user of the client's own agency
 *                        on the client's approved allow-list (clients.allowed_user_ids); otherwise
 *                        → invalid_grant. The client is authenticated by now, so this is a refused
 *                        grant, not a refused client.
 *  10. issue             a gateway access token (issueToken, which logs it, failing closed).
 *
 * Every refusal from step 2 on writes a deny entry (action token.issue) through refuseGrant, with a
 * short machine reason; the answer never says which check failed.
 *
 * No sign-in throttle (src/auth/throttle.ts): a client authenticates with a signature by a private
 * key the gateway never holds, not with a secret that can be guessed, so there is nothing for a
 * count of attempts to protect; a replayed assertion is refused by its jti (step 8), and every
 * refusal is logged, where a flood shows.
 *
 * What the token says:
 *   - acting as itself: sub = the client's service user (its role, the client's agency);
 *   - on_behalf_of:     sub = that user, with the user's own role, so policy decisions and the
 *                       access log are about that user; client_role = the client's own role, so
 *                       the user's ceiling is lowered to the client's (principalCeiling);
 *   - always client_id = the client, so the access log's actor_client names it and a disabled
 *     client's tokens stop working on the next request (resolvePrincipal);
 *   - amr: ['pop'] when the client acts as itself: RFC 8176 "proof-of-possession of a key", which
 *     is exactly how that subject (the client's service identity) authenticated. [] when it acts
 *     for a user: that user did not authenticate to the gateway at all (the client vouches for
 *     them), and the token must not claim a method (least of all 'mfa') on the user's behalf.
 *   - scope is accepted and ignored: what a token may do is the policy's decision on its role.
 */
import type { Request } from 'express';
import { and, eq } from 'drizzle-orm';
import { z } from 'zod';
import type { AppDeps } from '../../deps.js';
import { AssertionRejected, CLIENT_ASSERTION_TYPE, consumeAssertionJti, peekAssertion, verifyClientAssertion } from '../../auth/client-assertion.js';
import type { AgencyKind } from '../../authz/vocabulary.js';
import { agencies, clients, users } from '../../db/schema/index.js';
import { OAuthError } from '../../errors/problems.js';
import { issueToken, parseGrant, refuseGrant, type TokenResponse } from './issue.js';

export const body = z.strictObject({
  grant_type: z.literal('client_credentials'),
  client_assertion_type: z.literal(CLIENT_ASSERTION_TYPE),
  client_assertion: z.string().min(1).max(4096),
  client_id: z.string().min(1).max(200).optional(),
  scope: z.string().max(200).optional(),
  on_behalf_of: z.string().min(1).max(200).optional(),
});

/** RFC 8176: proof of possession of a key, hardware or software unspecified. */
const CLIENT_AMR = ['pop'];
const DELEGATED_AMR: string[] = [];

const invalidClient = () => new OAuthError('invalid_client', 'Client authentication failed.');

export async function clientCredentialsGrant(deps: AppDeps, req: Request): Promise<TokenResponse> {
  const { db, config } = deps;
  // 1. fields
  const input = parseGrant(body, req.body);
  const refuseClient = (reason: string, detail: Record<string, unknown> = {}) => refuseGrant(deps, req, reason, detail, invalidClient());

  // 2. one-method
  if (req.get('authorization') !== undefined) return refuseClient('multiple-client-auth-methods');

  // 3. assertion-shape
  let peeked: ReturnType<typeof peekAssertion>;
  try {
    peeked = peekAssertion(input.client_assertion);
  } catch (err) {
    if (err instanceof AssertionRejected) return refuseClient(err.reason);
    throw err;
  }
  const clientId = peeked.issuer;
  if (!clientId) return refuseClient('iss-missing');

  // 4. client-id
  if (input.client_id !== undefined && input.client_id !== clientId) return refuseClient('client-id-mismatch', { clientId: input.client_id });

  // 5. client
  const [row] = await db
    .select({ client: clients, agency: agencies, serviceUser: users })
    .from(clients)
    .innerJoin(agencies, eq(agencies.id, clients.agencyId))
    .innerJoin(users, eq(users.id, clients.serviceUserId))
    .where(eq(clients.clientId, clientId))
    .limit(1);
  if (!row) return refuseClient('client-unknown', { clientId });
  const { client, agency, serviceUser } = row;
  if (client.disabledAt) return refuseClient('client-disabled', { clientId });
  // A partner's client gets no token until a compliance officer approved its registration.
  if (client.approval !== 'approved') return refuseClient('client-not-approved', { clientId });
  if (agency.disabledAt) return refuseClient('agency-disabled', { clientId });
  if (serviceUser.disabledAt || serviceUser.kind !== 'service' || serviceUser.agencyId !== agency.id)
    return refuseClient('service-user-unusable', { clientId });

  // 6. signature and 7. claims
  const audiences = [`${config.TOKEN_ISSUER}/oauth/token`, config.TOKEN_ISSUER];
  let verified: Awaited<ReturnType<typeof verifyClientAssertion>>;
  try {
    verified = await verifyClientAssertion(input.client_assertion, peeked.header, client, audiences);
  } catch (err) {
    if (err instanceof AssertionRejected) return refuseClient(err.reason, { clientId });
    throw err;
  }

  // 8. replay
  const fresh = await consumeAssertionJti(db, client.clientId, verified.jti, verified.forgetAfter).catch(() => {
    throw new OAuthError('temporarily_unavailable');
  });
  if (!fresh) return refuseClient('assertion-replayed', { clientId });

  const base = { agencyId: agency.id, agency: agency.slug, agencyKind: agency.kind as AgencyKind, clientId: client.clientId };

  // 9. on-behalf-of
  if (input.on_behalf_of !== undefined) {
    const [user] = await db
      .select()
      .from(users)
      .where(and(eq(users.username, input.on_behalf_of), eq(users.agencyId, agency.id)))
      .limit(1);
    if (!user || user.disabledAt || user.kind !== 'person' || user.approval !== 'approved' || !client.allowedUserIds.includes(user.id)) {
      const reason = user && user.kind === 'person' && !user.disabledAt && user.approval === 'approved' ? 'on-behalf-of-not-allowed' : 'on-behalf-of-refused';
      return refuseGrant(
        deps,
        req,
        reason,
        { clientId, ...(user ? { userId: user.id } : {}) },
        new OAuthError('invalid_grant', 'The user cannot be acted for.'),
      );
    }
    // 10. issue (for the user)
    // The client's own role travels as client_role: the user's ceiling is lowered to it.
    return issueToken(deps, req, { ...base, userId: user.id, username: user.username, role: user.role, clientRole: serviceUser.role }, DELEGATED_AMR);
  }

  // 10. issue (as the client's service user)
  return issueToken(deps, req, { ...base, userId: serviceUser.id, username: serviceUser.username, role: serviceUser.role }, CLIENT_AMR);
}
