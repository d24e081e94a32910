import { AbilityBuilder, createMongoAbility, type MongoAbility } from '@casl/ability';
import type { Principal } from '../auth/principal.js';
import { principalCeiling, roleRule, type Policy } from './policy.js';

export type Action = 'search' | 'read' | 'create' | 'manage' | 'update' | 'close' | 'remove' | 'join' | 'revoke';
export type SubjectType =
  'Subject' | 'Identifier' | 'Entry' | 'RiskFlag' | 'Consent' | 'Case' | 'CaseMember' | 'BreakGlass' | 'AuditEvent' | 'Checkpoint' | 'Admin';
export type AppAbility = MongoAbility<[Action, SubjectType | Record<string, unknown>]>;

/**
 * Compiles the policy for one principal into CASL rules: what its role may do to which type, and
 * the instance conditions (this case, this consent). Fixed protocol rules live here; what varies
 * by agency kind and role comes from `policies/`. A principal whose role the policy does not know
 * gets an empty ability. Which of a person's entries are released is not CASL's: see release.ts.
 */
export function compileAbility(policy: Policy, principal: Principal): AppAbility {
  const { can, build } = new AbilityBuilder<AppAbility>(createMongoAbility);
  const rule = roleRule(policy, principal.agencyKind, principal.role);
  const perms = new Set(rule?.permissions ?? []);
  const ceiling = principalCeiling(policy, principal);
  const me = { userId: principal.userId, agencyId: principal.agencyId };

  if (perms.has('read') && ceiling) {
    can('search', 'Subject').because('partner-read');
    // The basic tier; the other tiers and the entries are the grants' (release.ts).
    can('read', 'Subject').because('partner-read');
  }
  if (perms.has('contribute-subject')) can('create', 'Subject').because('contribute-subject');
  // An agency's own identifiers only: the route adds them in the caller's agency's system.
  if (perms.has('contribute-identifier')) can('create', 'Identifier').because('contribute-identifier');
  if (perms.has('contribute-risk-flag')) can('create', 'RiskFlag').because('contribute-risk-flag');
  if (perms.has('contribute-entry')) can('create', 'Entry').because('contribute-entry');
  if (perms.has('manage-consent')) {
    can('create', 'Consent').because('manage-consent');
    // A listing shows the consents the caller's agency recorded or is named in; see consents/service.
    can('read', 'Consent').because('manage-consent');
    // Only a clinician of a discloser agency revokes: the data owner withdraws its own release.
    can('revoke', 'Consent', { disclosers: me.agencyId }).because('consent-discloser');
  }
  if (perms.has('manage-case')) {
    can('create', 'Case').because('manage-case');
    can('update', 'Case', { memberIds: me.userId, status: 'open' }).because('case-member');
    // The owning agency (the opener's) closes; a member removes members of its own agency, or itself.
    can('close', 'Case', { memberIds: me.userId, status: 'open', agencyId: me.agencyId }).because('case-owner');
    can('remove', 'CaseMember', { memberIds: me.userId, status: 'open', memberAgencyId: me.agencyId }).because('case-member-own-agency');
    can('remove', 'CaseMember', { memberIds: me.userId, status: 'open', memberUserId: me.userId }).because('case-member-self');
    // Joining a case from one's agency brings that agency's records in; once per agency.
    can('join', 'Case', { memberIds: me.userId, status: 'open', participantIds: { $ne: me.agencyId } }).because('case-member');
  }
  if (perms.has('break-glass')) can('create', 'BreakGlass').because('break-glass');
  if (perms.has('audit')) can('read', 'AuditEvent').because('audit');
  // Signed checkpoints hold no person data: partners verify them as compliance does.
  if (perms.has('audit') || (perms.has('read') && ceiling)) can('read', 'Checkpoint').because('checkpoint-read');
  if (perms.has('admin')) can('manage', 'Admin').because('admin');

  return build();
}
