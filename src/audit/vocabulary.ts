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
  riskFlagRead: 'risk-flag.read',
  riskFlagCreate: 'risk-flag.create',
  entryCreate: 'entry.create',
  consentRead: 'consent.read',
  consentCreate: 'consent.create',
  consentRevoke: 'consent.revoke',
  caseCreate: 'case.create',
  caseMemberAdd: 'case.member.add',
  caseMemberRemove: 'case.member.remove',
  caseClose: 'case.close',
  breakGlass: 'break-glass.declare',
  auditRead: 'audit.read',
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
