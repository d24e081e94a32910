import { Router } from 'express';
import type { AppDeps } from '../../deps.js';
import { AUDIT_ACTIONS as A } from '../../audit/vocabulary.js';
import { idParams, validate } from '../../http/validate.js';
import { createConsentBody, revokeConsentBody } from './schemas.js';
import { ConsentService } from './service.js';

/** Mounted at /v1: consents live under a subject and are revoked by their own id. */
export function consentsRouter({ pdp, runner }: AppDeps): Router {
  const service = new ConsentService(pdp);
  const router = Router();

  router.get('/subjects/:id/consents', pdp.authorize('read', 'Consent', A.consentRead), validate({ params: idParams }), async (req, res) => {
    res.json(await runner.run(req, A.consentRead, (scope) => service.list(scope, req.user!, res.locals.params.id)));
  });

  router.post(
    '/subjects/:id/consents',
    pdp.authorize('create', 'Consent', A.consentCreate),
    validate({ params: idParams, body: createConsentBody }),
    async (req, res) => {
      res.status(201).json(await runner.run(req, A.consentCreate, (scope) => service.create(scope, req.user!, res.locals.params.id, req.body)));
    },
  );

  router.post(
    '/consents/:id/revoke',
    pdp.authorize('revoke', 'Consent', A.consentRevoke),
    validate({ params: idParams, body: revokeConsentBody }),
    async (req, res) => {
      res.json(await runner.run(req, A.consentRevoke, (scope) => service.revoke(scope, req.user!, res.locals.params.id, req.body.reason)));
    },
  );

  return router;
}
