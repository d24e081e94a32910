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
