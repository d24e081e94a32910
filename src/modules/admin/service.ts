import type { Policy } from '../../authz/policy.js';
import { AgencyAdmin } from './agencies.js';
import { ClientAdmin } from './clients.js';
import { KeyAdmin, type KeySettings } from './keys.js';
import { UserAdmin } from './users.js';

export type { Operator, UserRef } from './lookups.js';
export type AdminSettings = KeySettings;

/**
 * Onboarding, one service per thing administered: agencies, users, machine clients, signing
 * keys. Every method runs inside the caller's audited transaction (`runner.run` for HTTP, the
 * CLI's own for an operator) and says what it changed through `note`, ids only, for the access
 * log. Refusals are HttpProblems, so the HTTP routes, the console and the CLI report them alike
 * and the transaction rolls back. What touches a partner or an approver goes through the
 * approvals registry (src/modules/approvals/).
 */
export interface AdminServices {
  agencies: AgencyAdmin;
  users: UserAdmin;
  clients: ClientAdmin;
  keys: KeyAdmin;
}

export function adminServices(policy: Policy, settings: AdminSettings): AdminServices {
  return { agencies: new AgencyAdmin(policy), users: new UserAdmin(policy), clients: new ClientAdmin(policy), keys: new KeyAdmin(settings) };
}

/**
 * The same services under the method names src/modules/admin/routes.ts calls, kept only until
 * that router is declared with defineRoute; new code uses adminServices().
 */
export class AdminService {
  readonly createAgency: AgencyAdmin['create'];
  readonly listAgencies: AgencyAdmin['list'];
  readonly disableAgency: AgencyAdmin['disable'];
  readonly inviteUser: UserAdmin['invite'];
  readonly listUsers: UserAdmin['list'];
  readonly setUserRole: UserAdmin['setRole'];
  readonly disableUser: UserAdmin['disable'];
  readonly resetMfa: UserAdmin['resetMfa'];
  readonly registerClient: ClientAdmin['register'];
  readonly setClientUsers: ClientAdmin['setUsers'];
  readonly listClients: ClientAdmin['list'];
  readonly disableClient: ClientAdmin['disable'];
  readonly listKeys: KeyAdmin['list'];
  readonly rotateKeys: KeyAdmin['rotate'];

  constructor(policy: Policy, settings: AdminSettings) {
    const { agencies, users, clients, keys } = adminServices(policy, settings);
    this.createAgency = agencies.create.bind(agencies);
    this.listAgencies = agencies.list.bind(agencies);
    this.disableAgency = agencies.disable.bind(agencies);
    this.inviteUser = users.invite.bind(users);
    this.listUsers = users.list.bind(users);
    this.setUserRole = users.setRole.bind(users);
    this.disableUser = users.disable.bind(users);
    this.resetMfa = users.resetMfa.bind(users);
    this.registerClient = clients.register.bind(clients);
    this.setClientUsers = clients.setUsers.bind(clients);
    this.listClients = clients.list.bind(clients);
    this.disableClient = clients.disable.bind(clients);
    this.listKeys = keys.list.bind(keys);
    this.rotateKeys = keys.rotate.bind(keys);
  }
}
