import { Router, type Request, type Response } from 'express';
import { AUDIT_ACTIONS as A, type AuditAction } from '../../audit/vocabulary.js';
import { AGENCY_KINDS } from '../../authz/vocabulary.js';
import { HttpProblem, NotFound } from '../../errors/problems.js';
import { errorSummary } from '../../logger.js';
import { agencySlug, clientId as clientIdSchema, createAgencyBody, inviteUserBody, registerClientBody, setRoleBody } from '../../modules/admin/schemas.js';
import { adminServices } from '../../modules/admin/service.js';
import { done, requireUser, type ConsoleContext } from '../context.js';
import { fieldErrors, str, type FieldErrors } from '../render.js';
import { stamp } from '../words.js';
import { idParam } from './people.js';

const humanRole = (role: string) => role.replaceAll('_', ' ');

/** The operator's pages: agencies, users (invite, role, disable, MFA reset), clients and keys. */
export function adminPages({ deps, render, confirmed }: ConsoleContext): Router {
  const { pdp, runner, config, keys, logger } = deps;
  const admin = adminServices(pdp.policy, { keyEncryptionKey: config.keyEncryptionKey, tokenTtlSeconds: config.TOKEN_TTL_SECONDS });
  const router = Router();
  const guard = (action: AuditAction) => [requireUser, pdp.authorize('manage', 'Admin', action)];
  // One option per agency kind and role: `clinician` is a role of mental-health agencies and of
  // hospitals, so a row's own select offers only its agency's kind (one option per value).
  const roles = Object.entries(pdp.policy.roles).flatMap(([kind, rs]) =>
    Object.keys(rs as object).map((r) => [r, `${r.replaceAll('_', ' ')} (${kind.replace('_', ' ')})`, kind]),
  );
  /** A refusal from the service (unknown agency, role not valid for the kind) shown on the form, nothing changed. */
  const formProblem = (err: unknown): FieldErrors | undefined => {
    if (!(err instanceof HttpProblem) || ![400, 404, 409].includes(err.status)) return undefined;
    const issues = (err.extra.errors as { path: string; message: string }[] | undefined) ?? [];
    return issues.length ? Object.fromEntries(issues.map((i) => [i.path.split('.')[0] || 'form', i.message])) : { form: err.detail ?? 'This cannot be done.' };
  };

  const agenciesPage = async (req: Request, res: Response, extra: Record<string, unknown> = {}, status = 200) => {
    const { agencies } = await runner.run(req, A.adminAgencyList, (scope) => admin.agencies.list(scope));
    render(req, res, 'admin/agencies', { title: 'Agencies', agencies, kinds: AGENCY_KINDS, w: { stamp }, ...extra }, status);
  };
  router.get('/admin/agencies', ...guard(A.adminAgencyList), (req, res) => agenciesPage(req, res));
  router.post('/admin/agencies', ...guard(A.adminAgencyCreate), async (req, res) => {
    const values = { slug: str(req.body, 'slug'), name: str(req.body, 'name'), kind: str(req.body, 'kind') };
    const parsed = createAgencyBody.safeParse(values);
    if (!parsed.success) return agenciesPage(req, res, { values, errors: fieldErrors(parsed.error) }, 400);
    try {
      await runner.run(req, A.adminAgencyCreate, (scope) => admin.agencies.create(scope, parsed.data));
    } catch (err) {
      const errors = formProblem(err);
      if (!errors) throw err;
      return agenciesPage(req, res, { values, errors }, 400);
    }
    await done(req, res, '/admin/agencies', `Agency ${parsed.data.slug} was created.`);
  });
  router.post('/admin/agencies/:slug/disable', ...guard(A.adminAgencyDisable), async (req, res) => {
    const parsed = agencySlug.safeParse(req.params.slug);
    if (!parsed.success) throw new NotFound('agency');
    const slug = parsed.data;
    const ask = {
      heading: `Disable the agency ${slug}?`,
      consequence: [
        `Every token of ${slug}’s users and clients stops working at once, and none of them can sign in or get a new one.`,
        'The console cannot enable an agency again.',
      ],
      yes: `Yes, disable ${slug}`,
      button: 'Disable agency',
      action: `/admin/agencies/${slug}/disable`,
      back: '/admin/agencies',
    };
    if (!confirmed(req, res, ask)) return;
    await runner.run(req, A.adminAgencyDisable, (scope) => admin.agencies.disable(scope, slug, req.user));
    await done(req, res, '/admin/agencies', `Agency ${slug} was disabled.`);
  });

  const usersPage = async (req: Request, res: Response, extra: Record<string, unknown> = {}, status = 200) => {
    const { users } = await runner.run(req, A.adminUserList, (scope) => admin.users.list(scope, {}));
    const { agencies } = await runner.run(req, A.adminAgencyList, (scope) => admin.agencies.list(scope));
    const kindOf = new Map(agencies.map((a) => [a.slug, a.kind]));
    const rolesOf = (agency: string) => roles.filter(([, , kind]) => kind === kindOf.get(agency)).map(([r, l]) => [r, l]);
    const inviteRoles = roles.map(([r, l, kind]) => [`${kind}.${r}`, l]);
    render(req, res, 'admin/users', { title: 'Users', users, roles: inviteRoles, rolesOf, w: { stamp }, ...extra }, status);
  };
  /** A new enrolment code is shown once, on the page that made it, never stored for later. */
  const showCode = (req: Request, res: Response, username: string, code: string, expires: Date | null, awaitsApproval = false) =>
    usersPage(req, res, { issued: { username, code, expires: expires ? stamp(expires) : undefined, awaitsApproval } });
  router.get('/admin/users', ...guard(A.adminUserList), (req, res) => usersPage(req, res));
  router.post('/admin/users', ...guard(A.adminUserInvite), async (req, res) => {
    // The invite's role select posts `kind.role` (one value per option); the kind must be the agency's.
    const values = { username: str(req.body, 'username'), agency: str(req.body, 'agency'), role: str(req.body, 'role') };
    const [kind, role] = values.role.includes('.') ? values.role.split('.', 2) : ['', values.role];
    const parsed = inviteUserBody.safeParse({ ...values, role });
    if (parsed.success && kind) {
      const { agencies } = await runner.run(req, A.adminAgencyList, (scope) => admin.agencies.list(scope));
      const agencyKind = agencies.find((a) => a.slug === parsed.data.agency)?.kind;
      if (agencyKind && agencyKind !== kind)
        return usersPage(
          req,
          res,
          { values, errors: { role: `Choose a role of a ${agencyKind.replace('_', '-')} agency: ${parsed.data.agency} is one` } },
          400,
        );
    }
    if (!parsed.success) return usersPage(req, res, { values, errors: fieldErrors(parsed.error) }, 400);
    let invited;
    try {
      invited = await runner.run(req, A.adminUserInvite, (scope) => admin.users.invite(scope, parsed.data, req.user));
    } catch (err) {
      const errors = formProblem(err);
      if (!errors) throw err;
      return usersPage(req, res, { values, errors }, 400);
    }
    // Into a partner agency the invitation waits for a compliance officer, who hands over the second code.
    await showCode(req, res, invited.username, invited.enrolmentCode, invited.enrolmentExpiresAt, Boolean(invited.approvalId));
  });
  router.post('/admin/users/:id/role', ...guard(A.adminUserRole), async (req, res) => {
    const id = idParam(req);
    const parsed = setRoleBody.safeParse({ role: str(req.body, 'role') });
    if (!parsed.success) return usersPage(req, res, { errors: { form: 'Choose a role' } }, 400);
    let changed;
    try {
      changed = await runner.run(req, A.adminUserRole, (scope) => admin.users.setRole(scope, { id }, parsed.data.role, req.user));
    } catch (err) {
      const errors = formProblem(err);
      if (!errors) throw err;
      return usersPage(req, res, { errors: { form: Object.values(errors)[0] } }, 400);
    }
    const waits = 'approvalId' in changed && changed.approvalId;
    await done(
      req,
      res,
      '/admin/users',
      waits
        ? `The change to ${humanRole(parsed.data.role)} waits for a compliance officer’s approval; until then ${changed.username} keeps the role ${humanRole(changed.role)}.`
        : 'The role was changed.',
    );
  });
  router.post('/admin/users/:id/disable', ...guard(A.adminUserDisable), async (req, res) => {
    const id = idParam(req);
    // The name on the question comes from the user list, never from the form.
    const { users } = await runner.run(req, A.adminUserList, (scope) => admin.users.list(scope, {}));
    const target = users.find((u) => u.id === id);
    if (!target) throw new NotFound('user');
    const ask = {
      heading: `Disable ${target.username}?`,
      consequence: [`${target.username} is signed out everywhere at once and can no longer sign in.`, 'The console cannot enable a user again.'],
      yes: `Yes, disable ${target.username}`,
      button: 'Disable user',
      action: `/admin/users/${id}/disable`,
      back: '/admin/users',
    };
    if (!confirmed(req, res, ask)) return;
    await runner.run(req, A.adminUserDisable, (scope) => admin.users.disable(scope, { id }, req.user));
    await done(req, res, '/admin/users', `${target.username} was disabled and signed out everywhere.`);
  });
  router.post('/admin/users/:id/reset-mfa', ...guard(A.adminUserResetMfa), async (req, res) => {
    const id = idParam(req);
    const reset = await runner.run(req, A.adminUserResetMfa, (scope) => admin.users.resetMfa(scope, { id }, req.user));
    // An approver's reset waits: the approving compliance officer hands the code over.
    if (!('enrolmentCode' in reset)) {
      return done(
        req,
        res,
        '/admin/users',
        `Resetting the second factor of ${reset.username} waits for a compliance officer’s approval; they hand over the new code.`,
      );
    }
    await showCode(req, res, reset.username, reset.enrolmentCode, reset.enrolmentExpiresAt);
  });

  const clientsPage = async (req: Request, res: Response, extra: Record<string, unknown> = {}, status = 200) => {
    const { clients } = await runner.run(req, A.adminClientList, (scope) => admin.clients.list(scope));
    render(req, res, 'admin/clients', { title: 'Clients', clients, roles, w: { stamp }, ...extra }, status);
  };
  router.get('/admin/clients', ...guard(A.adminClientList), (req, res) => clientsPage(req, res));
  router.post('/admin/clients', ...guard(A.adminClientRegister), async (req, res) => {
    const values = { clientId: str(req.body, 'clientId'), agency: str(req.body, 'agency'), role: str(req.body, 'role'), jwks: str(req.body, 'jwks') };
    let jwks: unknown;
    try {
      jwks = JSON.parse(values.jwks);
    } catch {
      return clientsPage(req, res, { values, errors: { jwks: 'Paste the client’s public JWK set as JSON, {"keys": [ … ]}' } }, 400);
    }
    const parsed = registerClientBody.safeParse({ ...values, jwks });
    if (!parsed.success) return clientsPage(req, res, { values, errors: fieldErrors(parsed.error) }, 400);
    let registered;
    try {
      registered = await runner.run(req, A.adminClientRegister, (scope) => admin.clients.register(scope, parsed.data, req.user));
    } catch (err) {
      const errors = formProblem(err);
      if (!errors) throw err;
      return clientsPage(req, res, { values, errors }, 400);
    }
    await done(
      req,
      res,
      '/admin/clients',
      registered.approvalId
        ? `Client ${parsed.data.clientId} was registered. It gets no token until a compliance officer approves it.`
        : `Client ${parsed.data.clientId} was registered.`,
    );
  });
  router.post('/admin/clients/:clientId/disable', ...guard(A.adminClientDisable), async (req, res) => {
    const parsed = clientIdSchema.safeParse(req.params.clientId);
    if (!parsed.success) throw new NotFound('client');
    const clientId = parsed.data;
    await runner.run(req, A.adminClientDisable, (scope) => admin.clients.disable(scope, clientId, req.user));
    await done(req, res, '/admin/clients', `Client ${clientId} was disabled.`);
  });

  router.get('/admin/keys', ...guard(A.adminKeysList), async (req, res) => {
    const { keys: list } = await runner.run(req, A.adminKeysList, (scope) => admin.keys.list(scope));
    render(req, res, 'admin/keys', { title: 'Signing keys', keys: list, w: { stamp } });
  });
  router.post('/admin/keys/rotate', ...guard(A.adminKeysRotate), async (req, res) => {
    const ask = {
      heading: 'Rotate the signing key?',
      consequence: [
        'A new key is made and signs every new token after a short delay; the current key is retired once its tokens have expired.',
        'A rotation cannot be undone.',
      ],
      yes: 'Yes, rotate the signing key',
      button: 'Rotate the signing key',
      action: '/admin/keys/rotate',
      back: '/admin/keys',
    };
    if (!confirmed(req, res, ask)) return;
    const rotated = await runner.run(req, A.adminKeysRotate, (scope) => admin.keys.rotate(scope));
    await keys.load().catch((err: unknown) => logger.warn({ requestId: req.id, err: errorSummary(err) }, 'signing keys not reloaded after rotation'));
    await done(req, res, '/admin/keys', `A new signing key ${rotated.kid} was created; it signs tokens after ${rotated.publishDelaySeconds} seconds.`);
  });

  return router;
}
