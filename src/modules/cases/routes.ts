import { Router } from 'express';
import { z } from 'zod';
import type { AppDeps } from '../../deps.js';
import { AUDIT_ACTIONS as A } from '../../audit/vocabulary.js';
import { idParams, text, uuid, validate } from '../../http/validate.js';
import { CaseService } from './service.js';

export const createCaseBody = z.strictObject({ subjectId: uuid, title: text(200) });
export const addMemberBody = z.strictObject({ user: z.string().trim().min(1).max(200) });
export const memberParams = z.strictObject({ id: uuid, userId: uuid });

export function casesRouter({ pdp, runner }: AppDeps): Router {
  const service = new CaseService(pdp);
  const router = Router();

  router.post('/', pdp.authorize('create', 'Case', A.caseCreate), validate({ body: createCaseBody }), async (req, res) => {
    res.status(201).json(await runner.run(req, A.caseCreate, (scope) => service.create(scope, req.user!, req.body)));
  });

  router.post('/:id/members', pdp.authorize('update', 'Case', A.caseMemberAdd), validate({ params: idParams, body: addMemberBody }), async (req, res) => {
    res.status(201).json(await runner.run(req, A.caseMemberAdd, (scope) => service.addMember(scope, req.user!, res.locals.params.id, req.body.user)));
  });

  router.delete('/:id/members/:userId', pdp.authorize('remove', 'CaseMember', A.caseMemberRemove), validate({ params: memberParams }), async (req, res) => {
    const { id, userId } = res.locals.params;
    res.json(await runner.run(req, A.caseMemberRemove, (scope) => service.removeMember(scope, req.user!, id, userId)));
  });

  router.post('/:id/participants', pdp.authorize('join', 'Case', A.caseJoin), validate({ params: idParams }), async (req, res) => {
    res.status(201).json(await runner.run(req, A.caseJoin, (scope) => service.join(scope, req.user!, res.locals.params.id)));
  });

  router.post('/:id/close', pdp.authorize('close', 'Case', A.caseClose), validate({ params: idParams }), async (req, res) => {
    res.json(await runner.run(req, A.caseClose, (scope) => service.close(scope, req.user!, res.locals.params.id)));
  });

  return router;
}
