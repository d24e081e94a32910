import { and, asc, eq, isNull, or } from 'drizzle-orm';
import type { Principal } from '../../auth/principal.js';
import type { AuditScope } from '../../audit/audited.js';
import type { DecisionPoint } from '../../authz/decide.js';
import type { Executor } from '../../db/client.js';
import { agencies, caseMembers, caseParticipants, cases, users } from '../../db/schema/index.js';
import { Conflict, NotFound } from '../../errors/problems.js';
import { isUuid } from '../../http/ids.js';
import { findSubject } from '../subjects/repository.js';

async function members(db: Executor, caseId: string) {
  return db
    .select({ userId: users.id, username: users.username, agency: agencies.slug, agencyId: users.agencyId, role: users.role, addedAt: caseMembers.addedAt })
    .from(caseMembers)
    .innerJoin(users, eq(users.id, caseMembers.userId))
    .innerJoin(agencies, eq(agencies.id, users.agencyId))
    .where(and(eq(caseMembers.caseId, caseId), isNull(caseMembers.removedAt)))
    .orderBy(asc(caseMembers.addedAt), asc(users.username));
}

/** The agencies that brought their records into the case, in the order they joined. */
async function participants(db: Executor, caseId: string) {
  return db
    .select({ agency: agencies.slug, agencyId: caseParticipants.agencyId, joinedAt: caseParticipants.joinedAt })
    .from(caseParticipants)
    .innerJoin(agencies, eq(agencies.id, caseParticipants.agencyId))
    .where(eq(caseParticipants.caseId, caseId))
    .orderBy(asc(caseParticipants.joinedAt), asc(agencies.slug));
}

type CaseRow = typeof cases.$inferSelect;
async function present(db: Executor, row: CaseRow) {
  const team = await members(db, row.id);
  const joined = await participants(db, row.id);
  return {
    id: row.id,
    subjectId: row.subjectId,
    title: row.title,
    status: row.status,
    createdAt: row.createdAt,
    members: team.map(({ agencyId: _agency, ...m }) => m),
    participants: joined.map(({ agency, joinedAt }) => ({ agency, joinedAt })),
  };
}

export class CaseService {
  constructor(private readonly pdp: DecisionPoint) {}

  /**
   * Loads an open case for update, with its team and participants; a closed case is 404 to a
   * non-member and 409 to a member. `check` is the instance decision, made by the decision point.
   */
  private async loadOpen(tx: Executor, principal: Principal, caseId: string, note: AuditScope['note']) {
    const [row] = await tx.select().from(cases).where(eq(cases.id, caseId)).for('update').limit(1);
    if (!row) throw new NotFound('case');
    note({ subjectId: row.subjectId, detail: { caseId } });
    const team = await members(tx, caseId);
    if (row.status !== 'open') {
      // Only a member may learn that the case is closed; anyone else is simply refused.
      if (!team.some((m) => m.userId === principal.userId)) throw new NotFound('case');
      throw new Conflict('The case is closed.');
    }
    const joined = await participants(tx, caseId);
    const instance = {
      status: row.status,
      agencyId: row.agencyId,
      memberIds: team.map((m) => m.userId),
      participantIds: joined.map((p) => p.agencyId),
    };
    return { row, team, instance };
  }

  async create({ tx, note }: AuditScope, principal: Principal, body: { subjectId: string; title: string }) {
    note({ subjectId: body.subjectId, basis: [{ rule: 'manage-case' }] });
    if (!(await findSubject(tx, body.subjectId))) throw new NotFound('subject');
    const [row] = await tx
      .insert(cases)
      .values({ ...body, agencyId: principal.agencyId, openedBy: principal.userId })
      .returning();
    // The opener's agency brings its records in; the opener is the first member.
    await tx.insert(caseParticipants).values({ caseId: row!.id, agencyId: principal.agencyId, joinedBy: principal.userId });
    await tx.insert(caseMembers).values({ caseId: row!.id, userId: principal.userId, addedBy: principal.userId });
    note({ detail: { caseId: row!.id } });
    return present(tx, row!);
  }

  async addMember({ tx, note }: AuditScope, principal: Principal, caseId: string, user: string) {
    note({ basis: [{ rule: 'case-member' }] });
    const { row, instance } = await this.loadOpen(tx, principal, caseId, note);
    this.pdp.assertAllowed(principal, 'update', 'Case', instance);
    const [target] = await tx
      .select({ id: users.id, role: users.role, kind: agencies.kind, disabledAt: users.disabledAt })
      .from(users)
      .innerJoin(agencies, eq(agencies.id, users.agencyId))
      .where(isUuid(user) ? or(eq(users.id, user), eq(users.username, user)) : eq(users.username, user))
      .limit(1);
    if (!target || target.disabledAt) throw new NotFound('user');
    if (!this.pdp.policy.roles[target.kind as keyof typeof this.pdp.policy.roles]?.[target.role]?.permissions.includes('read')) {
      throw new Conflict("The user's role cannot read person data, so it cannot join a case team.");
    }
    const inserted = await tx
      .insert(caseMembers)
      .values({ caseId, userId: target.id, addedBy: principal.userId })
      .onConflictDoNothing()
      .returning({ id: caseMembers.id });
    if (inserted.length === 0) throw new Conflict('The user is already a member of the case.');
    note({ detail: { caseId, memberUserId: target.id } });
    return present(tx, row);
  }

  /** A member removes members of its own agency, or itself; never another agency's member. */
  async removeMember({ tx, note }: AuditScope, principal: Principal, caseId: string, userId: string) {
    note({ basis: [{ rule: 'case-member' }] });
    const { row, team, instance } = await this.loadOpen(tx, principal, caseId, note);
    const target = team.find((m) => m.userId === userId);
    if (!target) {
      this.pdp.assertAllowed(principal, 'update', 'Case', instance);
      throw new NotFound('case member');
    }
    this.pdp.assertAllowed(principal, 'remove', 'CaseMember', { ...instance, memberUserId: target.userId, memberAgencyId: target.agencyId });
    await tx
      .update(caseMembers)
      .set({ removedAt: new Date(), removedBy: principal.userId })
      .where(and(eq(caseMembers.caseId, caseId), eq(caseMembers.userId, userId), isNull(caseMembers.removedAt)));
    note({ detail: { caseId, memberUserId: userId } });
    return present(tx, row);
  }

  /**
   * A member joins the case from its agency: that agency becomes a participant, and its entries
   * reach the members on the team now and those its own users add later (SPEC principle 8).
   */
  async join({ tx, note }: AuditScope, principal: Principal, caseId: string) {
    note({ basis: [{ rule: 'case-member' }] });
    const { row, instance } = await this.loadOpen(tx, principal, caseId, note);
    this.pdp.assertAllowed(principal, 'update', 'Case', instance);
    if (instance.participantIds.includes(principal.agencyId)) throw new Conflict('Your agency already takes part in the case.');
    this.pdp.assertAllowed(principal, 'join', 'Case', instance);
    await tx.insert(caseParticipants).values({ caseId, agencyId: principal.agencyId, joinedBy: principal.userId });
    note({ detail: { caseId, participantAgencyId: principal.agencyId } });
    return present(tx, row);
  }

  /** Only the owning agency (the opener's) closes the case. */
  async close({ tx, note }: AuditScope, principal: Principal, caseId: string) {
    note({ basis: [{ rule: 'case-owner' }] });
    const { row, instance } = await this.loadOpen(tx, principal, caseId, note);
    this.pdp.assertAllowed(principal, 'update', 'Case', instance);
    this.pdp.assertAllowed(principal, 'close', 'Case', instance);
    const [closed] = await tx.update(cases).set({ status: 'closed', closedAt: new Date(), closedBy: principal.userId }).where(eq(cases.id, caseId)).returning();
    return { id: row.id, subjectId: row.subjectId, title: row.title, status: closed!.status, closedAt: closed!.closedAt };
  }

  /** The case and its team, for a current member (anyone else gets the same 404 as for no case). */
  async show({ tx, note }: AuditScope, principal: Principal, caseId: string) {
    note({ basis: [{ rule: 'case-member' }], detail: { caseId } });
    const [row] = await tx.select().from(cases).where(eq(cases.id, caseId)).limit(1);
    if (!row) throw new NotFound('case');
    note({ subjectId: row.subjectId });
    const team = await members(tx, caseId);
    if (!team.some((m) => m.userId === principal.userId)) throw new NotFound('case');
    const joined = await participants(tx, caseId);
    return {
      id: row.id,
      subjectId: row.subjectId,
      title: row.title,
      status: row.status,
      agencyId: row.agencyId,
      createdAt: row.createdAt,
      closedAt: row.closedAt,
      members: team,
      participants: joined,
    };
  }
}
