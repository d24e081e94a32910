import { randomUUID } from 'node:crypto';
import type { Express } from 'express';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import request from 'supertest';
import { CLIENT_ASSERTION_TYPE } from '../../src/auth/client-assertion.js';
import { TEST_ENV } from './app.js';

export interface ClientKeys {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: Record<string, unknown>;
}

/** A machine client's ES256 key pair: the public JWK to register, the private key to sign assertions. */
export async function clientKeys(): Promise<ClientKeys> {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  const kid = `k-${randomUUID().slice(0, 8)}`;
  return { kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid } };
}

/** POST /oauth/token with grant_type=client_credentials and a fresh private_key_jwt assertion (RFC 7523). */
export async function clientCredentialsGrant(app: Express, clientId: string, k: ClientKeys, extra: Record<string, string> = {}) {
  const now = Math.floor(Date.now() / 1000);
  const assertion = await new SignJWT({ iss: clientId, sub: clientId, aud: `${TEST_ENV.TOKEN_ISSUER}/oauth/token`, iat: now, exp: now + 60, jti: randomUUID() })
    .setProtectedHeader({ alg: 'ES256', kid: k.kid })
    .sign(k.privateKey);
  return request(app)
    .post('/oauth/token')
    .type('form')
    .send({ grant_type: 'client_credentials', client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: assertion, ...extra });
}
