import { Router, type RequestHandler } from 'express';
import type { AppDeps } from '../../deps.js';
import { AUDIT_ACTIONS as A, type AuditAction } from '../../audit/vocabulary.js';
import { validate } from '../../http/validate.js';
import { errorSummary } from '../../logger.js';
import {
  agencyParams,
  clientParams,
  clientUsersBody,
  createAgencyBody,
  inviteUserBody,
  listUsersQuery,
  registerClientBody,
  setRoleBody,
  userParams,
} from './schemas.js';
import { AdminService } from './service.js';

/**
 * /v1/admin: onboarding for gateway operators (policy permission `admin`, CASL `manage Admin`).
 * Every action is guarded by the decision point and runs with its own access-log entry in the
 * transaction that makes the change. Admins read no person data: these routes touch none, and
 * the policy gives the role no read right anywhere else. What touches a partner or an approver
 * takes effect only when a compliance officer approves it, or (a disable, a partner's reset)
 * at once and queued for review: src/modules/approvals/kinds.ts says which.
 */
export function adminRouter({ pdp, runner, config, keys, logger }: AppDeps): Router {
  const service = new AdminService(pdp.policy, { keyEncryptionKey: config.keyEncryptionKey, tokenTtlSeconds: config.TOKEN_TTL_SECONDS });
  const router = Router();
  const guard = (action: AuditAction): RequestHandler => pdp.authorize('manage', 'Admin', action);

  // Agencies.
  router.post('/agencies', guard(A.adminAgencyCreate), validate({ body: createAgencyBody }), async (req, res) => {
    res.status(201).json(await runner.run(req, A.adminAgencyCreate, (scope) => service.createAgency(scope, req.body)));
  });
  router.get('/agencies', guard(A.adminAgencyList), async (req, res) => {
    res.json(await runner.run(req, A.adminAgencyList, (scope) => service.listAgencies(scope)));
  });
  router.post('/agencies/:slug/disable', guard(A.adminAgencyDisable), validate({ params: agencyParams }), async (req, res) => {
    res.json(await runner.run(req, A.adminAgencyDisable, (scope) => service.disableAgency(scope, res.locals.params.slug, req.user)));
  });

  // Users.
  router.post('/users', guard(A.adminUserInvite), validate({ body: inviteUserBody }), async (req, res) => {
    res.status(201).json(await runner.run(req, A.adminUserInvite, (scope) => service.inviteUser(scope, req.body, req.user)));
  });
  router.get('/users', guard(A.adminUserList), validate({ query: listUsersQuery }), async (req, res) => {
    res.json(await runner.run(req, A.adminUserList, (scope) => service.listUsers(scope, res.locals.query)));
  });
  router.post('/users/:id/role', guard(A.adminUserRole), validate({ params: userParams, body: setRoleBody }), async (req, res) => {
    const result = await runner.run(req, A.adminUserRole, (scope) => service.setUserRole(scope, { id: res.locals.params.id }, req.body.role, req.user));
    // 202: a partner's new role waits for a compliance officer; the old one stands until then.
    res.status('approvalId' in result ? 202 : 200).json(result);
  });
  router.post('/users/:id/disable', guard(A.adminUserDisable), validate({ params: userParams }), async (req, res) => {
    res.json(await runner.run(req, A.adminUserDisable, (scope) => service.disableUser(scope, { id: res.locals.params.id }, req.user)));
  });
  router.post('/users/:id/reset-mfa', guard(A.adminUserResetMfa), validate({ params: userParams }), async (req, res) => {
    const result = await runner.run(req, A.adminUserResetMfa, (scope) => service.resetMfa(scope, { id: res.locals.params.id }, req.user));
    // 202: an approver's reset waits for another compliance officer, who hands over the code.
    res.status('enrolmentCode' in result ? 200 : 202).json(result);
  });

  // Machine clients.
  router.post('/clients', guard(A.adminClientRegister), validate({ body: registerClientBody }), async (req, res) => {
    res.status(201).json(await runner.run(req, A.adminClientRegister, (scope) => service.registerClient(scope, req.body, req.user)));
  });
  // Who a client may act for (`on_behalf_of`): queued for a compliance officer's approval.
  router.put('/clients/:clientId/users', guard(A.adminClientUsers), validate({ params: clientParams, body: clientUsersBody }), async (req, res) => {
    res
      .status(202)
      .json(await runner.run(req, A.adminClientUsers, (scope) => service.setClientUsers(scope, res.locals.params.clientId, req.body.users, req.user)));
  });
  router.get('/clients', guard(A.adminClientList), async (req, res) => {
    res.json(await runner.run(req, A.adminClientList, (scope) => service.listClients(scope)));
  });
  router.post('/clients/:clientId/disable', guard(A.adminClientDisable), validate({ params: clientParams }), async (req, res) => {
    res.json(await runner.run(req, A.adminClientDisable, (scope) => service.disableClient(scope, res.locals.params.clientId, req.user)));
  });

  // Signing keys: kids and lifecycle only, never key material.
  router.get('/keys', guard(A.adminKeysList), async (req, res) => {
    res.json(await runner.run(req, A.adminKeysList, (scope) => service.listKeys(scope)));
  });
  router.post('/keys/rotate', guard(A.adminKeysRotate), async (req, res) => {
    const rotated = await runner.run(req, A.adminKeysRotate, (scope) => service.rotateKeys(scope));
    // This instance publishes the new key at once; others pick it up within their refresh interval
    // (as would this one if the reload failed: the rotation is committed either way).
    await keys.load().catch((err: unknown) => logger.warn({ requestId: req.id, err: errorSummary(err) }, 'signing keys not reloaded after rotation'));
    res.status(201).json(rotated);
  });

  return router;
}
