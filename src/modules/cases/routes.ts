import { AUDIT_ACTIONS as A } from '../../audit/vocabulary.js';
import type { AppDeps } from '../../deps.js';
import { defineRoute, type RouteGroup } from '../../http/route.js';
import { idParams } from '../../http/validate.js';
import { addMemberBody, Case, createCaseBody, memberParams } from './schemas.js';
import { CaseService } from './service.js';

/** /v1/cases: ongoing cases, their teams and participating agencies (the full tier). */
export function casesRoutes({ pdp, runner }: Pick<AppDeps, 'pdp' | 'runner'>): RouteGroup {
  const service = new CaseService(pdp);
  return {
    prefix: '/cases',
    tag: 'cases',
    routes: [
      defineRoute({
        method: 'post',
        path: '/',
        operationId: 'createCase',
        summary: 'Open a case; the creator is its first member',
        authorize: { action: 'create', type: 'Case', audit: A.caseCreate },
        body: createCaseBody,
        responses: { 201: { description: 'Opened', schema: Case } },
        handler: async ({ req, principal, body }) => ({
          status: 201,
          body: await runner.run(req, A.caseCreate, (scope) => service.create(scope, principal, body)),
        }),
      }),
      defineRoute({
        method: 'post',
        path: '/:id/members',
        operationId: 'addCaseMember',
        summary: 'Add a member (username or user id)',
        authorize: { action: 'update', type: 'Case', audit: A.caseMemberAdd },
        params: idParams,
        body: addMemberBody,
        problems: [409],
        responses: { 201: { description: 'The case with its team', schema: Case } },
        handler: async ({ req, principal, params, body }) => ({
          status: 201,
          body: await runner.run(req, A.caseMemberAdd, (scope) => service.addMember(scope, principal, params.id, body.user)),
        }),
      }),
      defineRoute({
        method: 'delete',
        path: '/:id/members/:userId',
        operationId: 'removeCaseMember',
        summary: 'Remove a member (kept in history)',
        authorize: { action: 'remove', type: 'CaseMember', audit: A.caseMemberRemove },
        params: memberParams,
        problems: [409],
        responses: { 200: { description: 'The case with its team', schema: Case } },
        handler: async ({ req, principal, params }) => ({
          status: 200,
          body: await runner.run(req, A.caseMemberRemove, (scope) => service.removeMember(scope, principal, params.id, params.userId)),
        }),
      }),
      defineRoute({
        method: 'post',
        path: '/:id/participants',
        operationId: 'joinCase',
        summary: "Join the case from the caller's agency, bringing that agency's records in",
        authorize: { action: 'join', type: 'Case', audit: A.caseJoin },
        params: idParams,
        problems: [409],
        responses: { 201: { description: 'The case with its participants', schema: Case } },
        handler: async ({ req, principal, params }) => ({
          status: 201,
          body: await runner.run(req, A.caseJoin, (scope) => service.join(scope, principal, params.id)),
        }),
      }),
      defineRoute({
        method: 'post',
        path: '/:id/close',
        operationId: 'closeCase',
        summary: 'Close a case; membership stops granting the full tier',
        authorize: { action: 'close', type: 'Case', audit: A.caseClose },
        params: idParams,
        problems: [409],
        responses: { 200: { description: 'Closed', schema: Case } },
        handler: async ({ req, principal, params }) => ({
          status: 200,
          body: await runner.run(req, A.caseClose, (scope) => service.close(scope, principal, params.id)),
        }),
      }),
    ],
  };
}
