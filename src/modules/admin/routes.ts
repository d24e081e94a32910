import { z } from 'zod';
import { AUDIT_ACTIONS as A, type AuditAction } from '../../audit/vocabulary.js';
import type { AppDeps } from '../../deps.js';
import { defineRoute, type RouteGroup } from '../../http/route.js';
import { errorSummary } from '../../logger.js';
import {
  Agency,
  agencyParams,
  Client,
  clientParams,
  clientUsersBody,
  createAgencyBody,
  Invitation,
  inviteUserBody,
  KeyRotation,
  listUsersQuery,
  PendingClientUsers,
  PendingReset,
  PendingRole,
  registerClientBody,
  Reviewed,
  setRoleBody,
  SigningKey,
  User,
  userParams,
} from './schemas.js';
import { adminServices } from './service.js';

/**
 * /v1/admin: onboarding for gateway operators (policy permission `admin`, CASL `manage Admin`).
 * Every action is guarded by the decision point and runs with its own access-log entry in the
 * transaction that makes the change. Admins read no person data: these routes touch none, and
 * the policy gives the role no read right anywhere else. What touches a partner or an approver
 * takes effect only when a compliance officer approves it, or (a disable, a partner's reset)
 * at once and queued for review: src/modules/approvals/kinds.ts says which.
 */
export function adminRoutes({ pdp, runner, config, keys, logger }: Pick<AppDeps, 'pdp' | 'runner' | 'config' | 'keys' | 'logger'>): RouteGroup {
  const admin = adminServices(pdp.policy, { keyEncryptionKey: config.keyEncryptionKey, tokenTtlSeconds: config.TOKEN_TTL_SECONDS });
  const manage = (audit: AuditAction) => ({ action: 'manage', type: 'Admin', audit }) as const;
  return {
    prefix: '/admin',
    tag: 'admin',
    routes: [
      // Agencies.
      defineRoute({
        method: 'post',
        path: '/agencies',
        operationId: 'createAgency',
        summary: 'Create an agency',
        authorize: manage(A.adminAgencyCreate),
        body: createAgencyBody,
        problems: [409],
        responses: { 201: { description: 'Created', schema: Agency } },
        handler: async ({ req, body }) => ({ status: 201, body: await runner.run(req, A.adminAgencyCreate, (scope) => admin.agencies.create(scope, body)) }),
      }),
      defineRoute({
        method: 'get',
        path: '/agencies',
        operationId: 'listAgencies',
        summary: 'List agencies',
        authorize: manage(A.adminAgencyList),
        responses: { 200: { description: 'Agencies', schema: z.object({ agencies: z.array(Agency) }) } },
        handler: async ({ req }) => ({ status: 200, body: await runner.run(req, A.adminAgencyList, (scope) => admin.agencies.list(scope)) }),
      }),
      defineRoute({
        method: 'post',
        path: '/agencies/:slug/disable',
        operationId: 'disableAgency',
        summary: "Disable an agency; its users' tokens stop working",
        authorize: manage(A.adminAgencyDisable),
        params: agencyParams,
        problems: [409],
        responses: { 200: { description: 'Disabled (at once), queued for review', schema: z.intersection(Agency, Reviewed) } },
        handler: async ({ req, principal, params }) => ({
          status: 200,
          body: await runner.run(req, A.adminAgencyDisable, (scope) => admin.agencies.disable(scope, params.slug, principal)),
        }),
      }),

      // Users.
      defineRoute({
        method: 'post',
        path: '/users',
        operationId: 'inviteUser',
        summary: 'Invite a user (one-time enrolment code)',
        authorize: manage(A.adminUserInvite),
        body: inviteUserBody,
        problems: [409],
        responses: { 201: { description: 'Invited', schema: Invitation } },
        handler: async ({ req, principal, body }) => ({
          status: 201,
          body: await runner.run(req, A.adminUserInvite, (scope) => admin.users.invite(scope, body, principal)),
        }),
      }),
      defineRoute({
        method: 'get',
        path: '/users',
        operationId: 'listUsers',
        summary: 'List users, optionally of one agency',
        authorize: manage(A.adminUserList),
        query: listUsersQuery,
        problems: [404],
        responses: { 200: { description: 'Users', schema: z.object({ users: z.array(User) }) } },
        handler: async ({ req, query }) => ({ status: 200, body: await runner.run(req, A.adminUserList, (scope) => admin.users.list(scope, query)) }),
      }),
      defineRoute({
        method: 'post',
        path: '/users/:id/role',
        operationId: 'setUserRole',
        summary: "Change a user's role",
        authorize: manage(A.adminUserRole),
        params: userParams,
        body: setRoleBody,
        problems: [409],
        responses: {
          200: { description: 'Updated (a gateway-agency user)', schema: User },
          202: { description: 'A partner user: the new role waits for a compliance officer; the old one stands', schema: PendingRole },
        },
        handler: async ({ req, principal, params, body }) => {
          const result = await runner.run(req, A.adminUserRole, (scope) => admin.users.setRole(scope, { id: params.id }, body.role, principal));
          // 202: a partner's new role waits for a compliance officer; the old one stands until then.
          return 'approvalId' in result ? { status: 202, body: result } : { status: 200, body: result };
        },
      }),
      defineRoute({
        method: 'post',
        path: '/users/:id/disable',
        operationId: 'disableUser',
        summary: 'Disable a user',
        authorize: manage(A.adminUserDisable),
        params: userParams,
        problems: [409],
        responses: {
          200: { description: 'Disabled (at once); a partner’s or an approver’s account is queued for review', schema: z.intersection(User, Reviewed) },
        },
        handler: async ({ req, principal, params }) => ({
          status: 200,
          body: await runner.run(req, A.adminUserDisable, (scope) => admin.users.disable(scope, { id: params.id }, principal)),
        }),
      }),
      defineRoute({
        method: 'post',
        path: '/users/:id/reset-mfa',
        operationId: 'resetUserMfa',
        summary: "Void a user's second factor and issue a new enrolment code (re-enrolment proves the user's current password)",
        authorize: manage(A.adminUserResetMfa),
        params: userParams,
        problems: [409],
        responses: {
          200: { description: 'Reset (a partner’s is queued for review)', schema: z.intersection(Invitation, Reviewed) },
          202: { description: 'An approver’s reset, waiting for another compliance officer', schema: PendingReset },
        },
        handler: async ({ req, principal, params }) => {
          const result = await runner.run(req, A.adminUserResetMfa, (scope) => admin.users.resetMfa(scope, { id: params.id }, principal));
          // 202: an approver's reset waits for another compliance officer, who hands over the code.
          return 'enrolmentCode' in result ? { status: 200, body: result } : { status: 202, body: result };
        },
      }),

      // Machine clients.
      defineRoute({
        method: 'post',
        path: '/clients',
        operationId: 'registerClient',
        summary: 'Register a machine client (private_key_jwt)',
        authorize: manage(A.adminClientRegister),
        body: registerClientBody,
        problems: [409],
        responses: { 201: { description: 'Registered', schema: Client } },
        handler: async ({ req, principal, body }) => ({
          status: 201,
          body: await runner.run(req, A.adminClientRegister, (scope) => admin.clients.register(scope, body, principal)),
        }),
      }),
      // Who a client may act for (`on_behalf_of`): queued for a compliance officer's approval.
      defineRoute({
        method: 'put',
        path: '/clients/:clientId/users',
        operationId: 'setClientUsers',
        summary: 'Ask to set the people a client may act for (on_behalf_of); takes effect when a compliance officer approves',
        authorize: manage(A.adminClientUsers),
        params: clientParams,
        body: clientUsersBody,
        problems: [409],
        responses: { 202: { description: 'Queued for approval', schema: PendingClientUsers } },
        handler: async ({ req, principal, params, body }) => ({
          status: 202,
          body: await runner.run(req, A.adminClientUsers, (scope) => admin.clients.setUsers(scope, params.clientId, body.users, principal)),
        }),
      }),
      defineRoute({
        method: 'get',
        path: '/clients',
        operationId: 'listClients',
        summary: 'List machine clients',
        authorize: manage(A.adminClientList),
        responses: { 200: { description: 'Clients', schema: z.object({ clients: z.array(Client) }) } },
        handler: async ({ req }) => ({ status: 200, body: await runner.run(req, A.adminClientList, (scope) => admin.clients.list(scope)) }),
      }),
      defineRoute({
        method: 'post',
        path: '/clients/:clientId/disable',
        operationId: 'disableClient',
        summary: 'Disable a machine client',
        authorize: manage(A.adminClientDisable),
        params: clientParams,
        responses: {
          200: { description: 'Disabled (at once); a partner’s or an auditing client is queued for review', schema: z.intersection(Client, Reviewed) },
        },
        handler: async ({ req, principal, params }) => ({
          status: 200,
          body: await runner.run(req, A.adminClientDisable, (scope) => admin.clients.disable(scope, params.clientId, principal)),
        }),
      }),

      // Signing keys: kids and lifecycle only, never key material.
      defineRoute({
        method: 'get',
        path: '/keys',
        operationId: 'listSigningKeys',
        summary: 'Signing keys (kids and lifecycle, never key material)',
        authorize: manage(A.adminKeysList),
        responses: { 200: { description: 'Keys', schema: z.object({ keys: z.array(SigningKey) }) } },
        handler: async ({ req }) => ({ status: 200, body: await runner.run(req, A.adminKeysList, (scope) => admin.keys.list(scope)) }),
      }),
      defineRoute({
        method: 'post',
        path: '/keys/rotate',
        operationId: 'rotateSigningKeys',
        summary: 'Rotate the token-signing key with overlap',
        authorize: manage(A.adminKeysRotate),
        responses: { 201: { description: 'Rotated', schema: KeyRotation } },
        handler: async ({ req }) => {
          const rotated = await runner.run(req, A.adminKeysRotate, (scope) => admin.keys.rotate(scope));
          // This instance publishes the new key at once; others pick it up within their refresh interval
          // (as would this one if the reload failed: the rotation is committed either way).
          await keys.load().catch((err: unknown) => logger.warn({ requestId: req.id, err: errorSummary(err) }, 'signing keys not reloaded after rotation'));
          return { status: 201, body: rotated };
        },
      }),
    ],
  };
}
