import { Router, type Request, type Response } from 'express';
import { AUDIT_ACTIONS as A } from '../../audit/vocabulary.js';
import { NotFound } from '../../errors/problems.js';
import { uuid } from '../../http/validate.js';
import { addMemberBody, createCaseBody } from '../../modules/cases/schemas.js';
import { CaseService } from '../../modules/cases/service.js';
import { done, requireUser, type ConsoleContext } from '../context.js';
import { str } from '../render.js';
import { day } from '../words.js';
import { idParam, namePerson } from './people.js';

/** Open a case for a person, staff its team, join it from one's agency, close it (each offered only where the ability allows). */
export function casePages({ deps, render, confirmed }: ConsoleContext): Router {
  const { pdp, runner } = deps;
  const service = new CaseService(pdp);
  const router = Router();

  const newForm = async (req: Request, res: Response, id: string, extra: Record<string, unknown> = {}, status = 200) =>
    render(req, res, 'cases/new', { title: 'Open a case', id, person: await namePerson(deps, req, id), ...extra }, status);
  const guardCreate = pdp.authorize('create', 'Case', A.caseCreate);
  router.get('/people/:id/cases/new', requireUser, guardCreate, (req, res) => newForm(req, res, idParam(req)));
  router.post('/people/:id/cases', requireUser, guardCreate, async (req, res) => {
    const subjectId = idParam(req);
    const values = { title: str(req.body, 'title') };
    const parsed = createCaseBody.safeParse({ subjectId, ...values });
    if (!parsed.success) return newForm(req, res, subjectId, { values, errors: { title: 'Give the case a title, at most 200 characters' } }, 400);
    const who = await namePerson(deps, req, subjectId);
    const opened = await runner.run(req, A.caseCreate, (scope) => service.create(scope, req.user!, parsed.data));
    await done(req, res, `/cases/${opened.id}`, `Case “${opened.title}” opened for ${who}. You are on its team.`);
  });

  const show = async (req: Request, res: Response, extra: Record<string, unknown> = {}, status = 200) => {
    const caseId = idParam(req);
    const c = await runner.run(req, A.caseRead, (scope) => service.show(scope, req.user!, caseId));
    // The instance the decision point judges: the page offers exactly what it would allow.
    const instance = {
      status: c.status,
      agencyId: c.agencyId,
      memberIds: c.members.map((m) => m.userId),
      participantIds: c.participants.map((p) => p.agencyId),
    };
    render(req, res, 'cases/show', { title: c.title, c, instance, w: { day }, ...extra }, status);
  };
  router.get('/cases/:id', requireUser, pdp.authorize('create', 'Case', A.caseRead), (req, res) => show(req, res));

  router.post('/cases/:id/members', requireUser, pdp.authorize('update', 'Case', A.caseMemberAdd), async (req, res) => {
    const caseId = idParam(req);
    const values = { user: str(req.body, 'user') };
    const parsed = addMemberBody.safeParse(values);
    if (!parsed.success) return show(req, res, { values, errors: { user: 'Enter the username of the person to add, for example doctor@city-hospital' } }, 400);
    await runner.run(req, A.caseMemberAdd, (scope) => service.addMember(scope, req.user!, caseId, parsed.data.user));
    await done(req, res, `/cases/${caseId}`, `${parsed.data.user} was added to the team.`);
  });

  router.post('/cases/:id/members/:userId/remove', requireUser, pdp.authorize('remove', 'CaseMember', A.caseMemberRemove), async (req, res) => {
    const caseId = idParam(req);
    const parsedUser = uuid.safeParse(req.params.userId);
    if (!parsedUser.success) throw new NotFound('case member');
    const userId = parsedUser.data;
    await runner.run(req, A.caseMemberRemove, (scope) => service.removeMember(scope, req.user!, caseId, userId));
    await done(req, res, `/cases/${caseId}`, 'The member was removed from the team.');
  });

  router.post('/cases/:id/participants', requireUser, pdp.authorize('join', 'Case', A.caseJoin), async (req, res) => {
    const caseId = idParam(req);
    await runner.run(req, A.caseJoin, (scope) => service.join(scope, req.user!, caseId));
    await done(req, res, `/cases/${caseId}`, `${req.user!.agency} now takes part in the case: its records reach the team.`);
  });

  router.post('/cases/:id/close', requireUser, pdp.authorize('close', 'Case', A.caseClose), async (req, res) => {
    const caseId = idParam(req);
    if (str(req.body, 'confirm') !== 'yes') {
      const c = await runner.run(req, A.caseRead, (scope) => service.show(scope, req.user!, caseId));
      const person = await namePerson(deps, req, c.subjectId);
      const ask = {
        heading: `Close the case “${c.title}”?`,
        person,
        consequence: ['A closed case cannot be reopened. The team loses the full tier at once.'],
        yes: 'Yes, close this case',
        button: 'Close case',
        action: `/cases/${caseId}/close`,
        back: `/cases/${caseId}`,
      };
      if (!confirmed(req, res, ask)) return;
    }
    const closed = await runner.run(req, A.caseClose, (scope) => service.close(scope, req.user!, caseId));
    const who = await namePerson(deps, req, closed.subjectId);
    await done(req, res, `/people/${closed.subjectId}`, `Case “${closed.title}” closed for ${who}. Its team no longer has full-tier access.`);
  });

  return router;
}
