import { and, eq, inArray, isNull } from 'drizzle-orm';
import { issueApprovalCode, issueEnrolmentCode } from '../../auth/enrolment.js';
import { endUserSessions } from '../../auth/user-sessions.js';
import { roleRule, type Policy } from '../../authz/policy.js';
import type { AgencyKind } from '../../authz/vocabulary.js';
import type { Executor } from '../../db/client.js';
import { clients, recoveryCodes, users, type APPROVAL_KINDS } from '../../db/schema/index.js';
import { Conflict } from '../../errors/problems.js';

export type ApprovalKind = (typeof APPROVAL_KINDS)[number];

/** Enrolment codes handed out by an admin or an approver are valid this long. */
export const ENROLMENT_CODE_HOURS = 72;

/**
 * What a change needs, by the one rule: `approval` waits for a compliance officer; `review`
 * happens at once (it only takes rights away) and is queued for review; `none` happens at once
 * and is logged. The gateway agency's accounts that neither audit nor gain or lose an auditing
 * role are the operators' own; everything that touches a partner or an approver is four-eyes.
 */
export type Need = 'approval' | 'review' | 'none';

/** What the rule knows of the change: the target's agency kind and the roles before and after. */
export interface ChangeFacts {
  agencyKind: AgencyKind;
  /** The role the target holds now (for a new account or client: the role it would get). */
  role: string;
  /** For a role change: the role asked for. */
  newRole?: string;
}

/** A request as stored, for `apply` and `reject`. */
export interface ApprovalRequest {
  id: string;
  kind: ApprovalKind;
  agencyKind: string | null;
  userId: string | null;
  clientRowId: string | null;
  change: Record<string, unknown>;
}

/** What the approver must hand over, once, if anything (never stored in clear). */
export interface Handover {
  approvalCode?: string;
  enrolmentCode?: string;
}

export interface ApplyContext {
  tx: Executor;
  policy: Policy;
}

interface KindRule {
  needs(policy: Policy, facts: ChangeFacts): Need;
  /** Makes an approved `on-approval` request take effect, in the deciding transaction. */
  apply(ctx: ApplyContext, request: ApprovalRequest): Promise<Handover>;
  /** Undoes what a rejected `on-approval` request had already put in place. */
  reject(ctx: ApplyContext, request: ApprovalRequest): Promise<void>;
}

/** Whether a role of this agency kind may audit, and so decide approvals. */
export function audits(policy: Policy, kind: AgencyKind | string, role: string | undefined): boolean {
  return role !== undefined && (roleRule(policy, kind as AgencyKind, role)?.permissions.includes('audit') ?? false);
}

const partner = (kind: AgencyKind) => kind !== 'gateway';

/** Invitations, role changes, registrations: a partner's or an approver's wait; the operators' own do not. */
const grantNeeds = (policy: Policy, f: ChangeFacts): Need =>
  partner(f.agencyKind) || audits(policy, f.agencyKind, f.role) || audits(policy, f.agencyKind, f.newRole) ? 'approval' : 'none';
/** Disables only take rights away: at once, and reviewed where four-eyes applies. */
const removalNeeds = (policy: Policy, f: ChangeFacts): Need => (grantNeeds(policy, f) === 'approval' ? 'review' : 'none');
const nothingToUndo = async () => {};
const appliedAtOnce = async (): Promise<Handover> => {
  throw new Conflict('This change took effect when it was asked; a decision reviews it.');
};

/**
 * Voids the second factor and recovery codes and ends the user's sessions and tokens; the user
 * re-enrols with the code and their current password.
 */
export async function resetSecondFactor(tx: Executor, userId: string): Promise<string> {
  await endUserSessions(tx, userId);
  await tx
    .update(recoveryCodes)
    .set({ usedAt: new Date() })
    .where(and(eq(recoveryCodes.userId, userId), isNull(recoveryCodes.usedAt)));
  return issueEnrolmentCode(tx, userId, ENROLMENT_CODE_HOURS);
}

/**
 * The one registry of four-eyes changes (SPEC principles 10 and 14), exhaustive over the kinds:
 * whether each waits, what an approval does and what a rejection undoes. The decision itself,
 * and who may make it, is the decision point's (`DecisionPoint.assertMayDecide`).
 */
export const APPROVAL_RULES: { [K in ApprovalKind]: KindRule } = {
  'user.invite': {
    needs: grantNeeds,
    async apply({ tx, policy }, r) {
      await tx.update(users).set({ approval: 'approved' }).where(eq(users.id, r.userId!));
      await markApprover(tx, policy, r, String(r.change.role));
      // The second half of the enrolment, for the approver to hand to the person by another channel.
      return { approvalCode: await issueApprovalCode(tx, r.userId!, ENROLMENT_CODE_HOURS) };
    },
    async reject({ tx }, r) {
      await tx
        .update(users)
        .set({ approval: 'rejected', disabledAt: new Date(), enrolmentCodeHash: null, enrolmentExpiresAt: null })
        .where(eq(users.id, r.userId!));
    },
  },
  'user.role': {
    needs: grantNeeds,
    async apply({ tx, policy }, r) {
      const role = String(r.change.role);
      const [user] = await tx.select({ role: users.role, disabledAt: users.disabledAt }).from(users).where(eq(users.id, r.userId!)).for('update');
      if (!user || user.disabledAt) throw new Conflict('The user is disabled.');
      if (user.role !== r.change.previousRole) throw new Conflict('The role changed since the request; it no longer says what it changes.');
      if (!roleRule(policy, r.agencyKind as AgencyKind, role)) throw new Conflict('The policy no longer defines the role.');
      await tx.update(users).set({ role }).where(eq(users.id, r.userId!));
      await endUserSessions(tx, r.userId!);
      await markApprover(tx, policy, r, role);
      return {};
    },
    reject: nothingToUndo,
  },
  'user.mfa-reset': {
    // An approver's second factor is reset only with another approver's consent; a partner's at once, reviewed.
    needs: (policy, f) => (audits(policy, f.agencyKind, f.role) ? 'approval' : partner(f.agencyKind) ? 'review' : 'none'),
    async apply({ tx }, r) {
      const [user] = await tx.select({ disabledAt: users.disabledAt }).from(users).where(eq(users.id, r.userId!)).for('update');
      if (!user || user.disabledAt) throw new Conflict('The user is disabled.');
      return { enrolmentCode: await resetSecondFactor(tx, r.userId!) };
    },
    reject: nothingToUndo,
  },
  'user.disable': { needs: removalNeeds, apply: appliedAtOnce, reject: nothingToUndo },
  'client.register': {
    needs: grantNeeds,
    async apply({ tx }, r) {
      await tx.update(clients).set({ approval: 'approved' }).where(eq(clients.id, r.clientRowId!));
      return {};
    },
    async reject({ tx }, r) {
      await tx.update(clients).set({ approval: 'rejected', disabledAt: new Date() }).where(eq(clients.id, r.clientRowId!));
    },
  },
  'client.users': {
    needs: () => 'approval',
    async apply({ tx }, r) {
      const ids = (r.change.userIds as string[] | undefined) ?? [];
      const [client] = await tx.select({ agencyId: clients.agencyId }).from(clients).where(eq(clients.id, r.clientRowId!));
      const usable = ids.length
        ? await tx
            .select({ id: users.id })
            .from(users)
            .where(and(inArray(users.id, ids), eq(users.agencyId, client!.agencyId), eq(users.kind, 'person'), eq(users.approval, 'approved')))
        : [];
      if (usable.length !== ids.length) throw new Conflict('A listed user is no longer an approved person of the client’s agency.');
      await tx.update(clients).set({ allowedUserIds: ids }).where(eq(clients.id, r.clientRowId!));
      return {};
    },
    reject: nothingToUndo,
  },
  'client.disable': { needs: removalNeeds, apply: appliedAtOnce, reject: nothingToUndo },
  // Disabling an agency stops every account in it: always reviewed, whatever the kind.
  'agency.disable': { needs: () => 'review', apply: appliedAtOnce, reject: nothingToUndo },
};

/**
 * An approved grant of an auditing role records the approval as the account's basis for
 * deciding; a role that no longer audits loses it.
 */
async function markApprover(tx: Executor, policy: Policy, r: ApprovalRequest, role: string): Promise<void> {
  const approver = audits(policy, r.agencyKind ?? '', role);
  await tx
    .update(users)
    .set(approver ? { approverBasis: 'approval', approverApprovalId: r.id } : { approverBasis: null, approverApprovalId: null })
    .where(eq(users.id, r.userId!));
}
