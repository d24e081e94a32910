import { z } from 'zod';
import { AUDIT_ACTIONS as A } from '../../audit/vocabulary.js';
import type { AppDeps } from '../../deps.js';
import { defineRoute, type RouteGroup } from '../../http/route.js';
import { idParams } from '../../http/validate.js';
import { Consent, createConsentBody, revokeConsentBody } from './schemas.js';
import { ConsentService } from './service.js';

/** Mounted at /v1: consents live under a subject and are revoked by their own id. */
export function consentsRoutes({ pdp, runner }: Pick<AppDeps, 'pdp' | 'runner'>): RouteGroup {
  const service = new ConsentService(pdp);
  return {
    prefix: '',
    tag: 'consents',
    routes: [
      defineRoute({
        method: 'get',
        path: '/subjects/:id/consents',
        operationId: 'listConsents',
        summary: "The person's consents with their status",
        authorize: { action: 'read', type: 'Consent', audit: A.consentRead },
        params: idParams,
        responses: { 200: { description: 'Consents', schema: z.object({ consents: z.array(Consent) }) } },
        handler: async ({ req, principal, params }) => ({
          status: 200,
          body: await runner.run(req, A.consentRead, (scope) => service.list(scope, principal, params.id)),
        }),
      }),
      defineRoute({
        method: 'post',
        path: '/subjects/:id/consents',
        operationId: 'createConsent',
        summary: 'Record consent',
        description:
          'Also refused with 400: a consent granting `full`, verbal consent without a witness, `validUntil` not after `validFrom`, an unknown recipient agency.',
        authorize: { action: 'create', type: 'Consent', audit: A.consentCreate },
        params: idParams,
        body: createConsentBody,
        responses: { 201: { description: 'Recorded', schema: Consent } },
        handler: async ({ req, principal, params, body }) => ({
          status: 201,
          body: await runner.run(req, A.consentCreate, (scope) => service.create(scope, principal, params.id, body)),
        }),
      }),
      defineRoute({
        method: 'post',
        path: '/consents/:id/revoke',
        operationId: 'revokeConsent',
        summary: 'Revoke a consent (effective for the next request)',
        authorize: { action: 'revoke', type: 'Consent', audit: A.consentRevoke },
        params: idParams,
        body: revokeConsentBody,
        problems: [409],
        responses: { 200: { description: 'Revoked', schema: Consent } },
        handler: async ({ req, principal, params, body }) => ({
          status: 200,
          body: await runner.run(req, A.consentRevoke, (scope) => service.revoke(scope, principal, params.id, body.reason)),
        }),
      }),
    ],
  };
}
