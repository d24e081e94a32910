// The access log's vocabulary. Every entry names one action and one decision from these tables.
export const AUDIT_ACTIONS = {
  authenticate: 'authenticate',
  tokenIssue: 'token.issue',
  tokenRevoke: 'token.revoke',
  mfaEnrol: 'mfa.enrol',
  mfaConfirm: 'mfa.confirm',
  subjectSearch: 'subject.search',
  subjectRead: 'subject.read',
  subjectCreate: 'subject.create',
  // Ranked candidates for a person about to be created (POST /v1/subjects/match).
  subjectMatch: 'subject.match',
  // An agency's identifier added to a person.
  identifierCreate: 'identifier.create',
  riskFlagRead: 'risk-flag.read',
  riskFlagCreate: 'risk-flag.create',
  entryCreate: 'entry.create',
  consentRead: 'consent.read',
  consentCreate: 'consent.create',
  consentRevoke: 'consent.revoke',
  caseCreate: 'case.create',
  caseMemberAdd: 'case.member.add',
  caseMemberRemove: 'case.member.remove',
  // A member's agency joins the case, bringing its records in (it becomes a participant).
  caseJoin: 'case.join',
  caseClose: 'case.close',
  // A case and its team, as its members see it (the console's case page).
  caseRead: 'case.read',
  breakGlass: 'break-glass.declare',
  auditRead: 'audit.read',
  checkpointRead: 'audit.checkpoint.read',
  proofRead: 'audit.proof.read',
  // Every public key that ever signed, retired ones included, for verifying old checkpoints.
  checkpointKeysRead: 'audit.checkpoint.keys.read',
  // A person's accounting of disclosures; the break-glass review queue read, and one review.
  auditDisclosures: 'audit.disclosures.read',
  auditBreakGlassRead: 'audit.break-glass.read',
  breakGlassReview: 'audit.break-glass.review',
  // The approvals queue of operators' changes to partner accounts and clients, and one decision.
  auditApprovalsRead: 'audit.approvals.read',
  approvalDecide: 'audit.approval.decide',
  // A month of the log dropped by the retention command (its signed record names the leaves).
  auditRetention: 'audit.retention',
  // Onboarding by gateway operators (HTTP /v1/admin and the admin CLI); they read no person data.
  adminAgencyCreate: 'admin.agency.create',
  adminAgencyList: 'admin.agency.list',
  adminAgencyDisable: 'admin.agency.disable',
  adminUserInvite: 'admin.user.invite',
  adminUserList: 'admin.user.list',
  adminUserRole: 'admin.user.role',
  adminUserDisable: 'admin.user.disable',
  adminUserResetMfa: 'admin.user.reset-mfa',
  adminClientRegister: 'admin.client.register',
  adminClientList: 'admin.client.list',
  adminClientDisable: 'admin.client.disable',
  // A request to set who a client may act for (on_behalf_of), queued for approval.
  adminClientUsers: 'admin.client.users',
  adminKeysList: 'admin.keys.list',
  adminKeysRotate: 'admin.keys.rotate',
} as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[keyof typeof AUDIT_ACTIONS];

export const DECISIONS = ['allow', 'deny'] as const;
export type Decision = (typeof DECISIONS)[number];

/** One reason for a grant: which rule, and which consent, case or break-glass grant it rests on. */
export interface Basis {
  tier?: string;
  rule: string;
  consentId?: string;
  caseId?: string;
  breakGlassId?: string;
}
