// The decider's independence (SPEC principle 14) as the decision point judges it, without HTTP:
// every rule refuses on its own, and a decider who passes them all may decide.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Principal } from '../../src/auth/principal.js';
import { approverRefusal, type DeciderFacts } from '../../src/authz/decide.js';
import { loadPolicy } from '../../src/authz/policy.js';

const policy = loadPolicy();
const officer: Principal = {
  userId: randomUUID(),
  username: 'compliance@gateway',
  agencyId: randomUUID(),
  agency: 'gateway',
  agencyKind: 'gateway',
  role: 'compliance_officer',
  jti: randomUUID(),
  amr: ['pwd', 'otp', 'mfa'],
};
const approvedBy = randomUUID();
const decider: DeciderFacts = { kind: 'person', disabled: false, approverBasis: 'approval', basisDecidedBy: approvedBy, basisStatus: 'approved' };
const request: { requestedBy: string | null; targetUserIds: string[] } = { requestedBy: randomUUID(), targetUserIds: [randomUUID()] };
const refusal = (p: Partial<Principal> = {}, d: Partial<DeciderFacts> | 'no account' = {}, r: Partial<typeof request> = {}, mfa = true) =>
  approverRefusal(policy, mfa, { ...officer, ...p }, d === 'no account' ? undefined : { ...decider, ...d }, { ...request, ...r });

describe('who may decide an approval', () => {
  it('a person who audits, signed in with a second factor, approved as an approver by someone else, neither requester nor subject', () => {
    expect(refusal()).toBeUndefined();
    expect(refusal({}, { approverBasis: 'bootstrap', basisDecidedBy: null, basisStatus: null })).toBeUndefined();
    expect(refusal({}, { approverBasis: 'pre-existing', basisDecidedBy: null, basisStatus: null })).toBeUndefined();
  });

  it('never a machine client, whatever its role, nor a service user', () => {
    expect(refusal({ clientId: 'siem' })).toBe('approver-not-a-person');
    expect(refusal({}, { kind: 'service' })).toBe('approver-not-a-person');
    expect(refusal({}, 'no account')).toBe('approver-not-a-person');
  });

  it('never a role that administers, nor one that does not audit', () => {
    expect(refusal({ role: 'admin' })).toBe('approver-administers');
    expect(refusal({ agencyKind: 'mental_health', role: 'clinician' })).toBe('approver-administers');
  });

  it('outside demo mode only with a second factor; in demo mode a password suffices', () => {
    expect(refusal({ amr: ['pwd'] })).toBe('approver-without-second-factor');
    expect(refusal({ amr: [] })).toBe('approver-without-second-factor');
    expect(refusal({ amr: ['pwd'] }, {}, {}, false)).toBeUndefined();
  });

  it('only an account made an approver by another approver’s decision', () => {
    expect(refusal({}, { approverBasis: null, basisDecidedBy: null, basisStatus: null })).toBe('approver-not-approved');
    expect(refusal({}, { basisStatus: 'rejected' })).toBe('approver-not-approved');
    expect(refusal({}, { basisDecidedBy: null })).toBe('approver-not-approved');
    expect(refusal({}, { basisDecidedBy: officer.userId })).toBe('approver-not-approved');
    expect(refusal({}, { disabled: true })).toBe('approver-not-approved');
  });

  it('never the requester, never the subject, never a request whose operator is unknown', () => {
    expect(refusal({}, {}, { requestedBy: officer.userId })).toBe('approver-requested');
    expect(refusal({}, {}, { targetUserIds: [officer.userId] })).toBe('approver-is-subject');
    expect(refusal({}, {}, { requestedBy: null })).toBe('requester-unknown');
  });
});
