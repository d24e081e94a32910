import { and, arrayContains, eq, gt, isNull, lte, or } from 'drizzle-orm';
import type { Executor } from '../db/client.js';
import { breakGlassGrants, caseMembers, caseParticipants, cases, consents, users } from '../db/schema/index.js';
import type { Principal } from '../auth/principal.js';
import type { SensitiveCategory, Tier } from './vocabulary.js';

/** The facts about one person that the policy needs for this principal, read in the request's transaction. */
export interface SubjectContext {
  subjectId: string;
  /**
   * Active, unrevoked consents valid now that name the principal's agency or agency kind, with
   * their disclosers: the agency that recorded the consent, the only one whose entries it releases.
   */
  consents: { id: string; disclosers: string[]; tiers: Tier[]; sensitiveCategories: SensitiveCategory[] }[];
  /**
   * Open cases for the person of which the principal is a current member, each with the agencies
   * whose entries it releases to this member: participants that joined after the member was on
   * the team or whose own users added the member (SPEC principle 8).
   */
  openCases: { id: string; releasedBy: string[] }[];
  /** Unexpired break-glass grants of this principal for the person. */
  breakGlass: { id: string; tier: Tier }[];
}

export async function loadSubjectContext(db: Executor, principal: Principal, subjectId: string, now = new Date()): Promise<SubjectContext> {
  // Sequential: `db` is usually the request's transaction, one connection. Three statements.
  const consentRows = await db
    .select({ id: consents.id, discloser: consents.agencyId, tiers: consents.tiers, sensitiveCategories: consents.sensitiveCategories })
    .from(consents)
    .where(
      and(
        eq(consents.subjectId, subjectId),
        isNull(consents.revokedAt),
        lte(consents.validFrom, now),
        or(isNull(consents.validUntil), gt(consents.validUntil, now)),
        or(arrayContains(consents.recipientAgencyIds, [principal.agencyId]), arrayContains(consents.recipientKinds, [principal.agencyKind])),
      ),
    );
  // One row per (case, releasing participant); a case with no participant releasing to this
  // member has no row and so grants nothing.
  const caseRows = await db
    .select({ id: cases.id, agencyId: caseParticipants.agencyId })
    .from(cases)
    .innerJoin(caseMembers, and(eq(caseMembers.caseId, cases.id), eq(caseMembers.userId, principal.userId), isNull(caseMembers.removedAt)))
    .innerJoin(users, eq(users.id, caseMembers.addedBy))
    .innerJoin(
      caseParticipants,
      and(eq(caseParticipants.caseId, cases.id), or(eq(caseParticipants.agencyId, users.agencyId), lte(caseMembers.addedAt, caseParticipants.joinedAt))),
    )
    .where(and(eq(cases.subjectId, subjectId), eq(cases.status, 'open')));
  const grantRows = await db
    .select({ id: breakGlassGrants.id, tier: breakGlassGrants.tier })
    .from(breakGlassGrants)
    .where(and(eq(breakGlassGrants.subjectId, subjectId), eq(breakGlassGrants.userId, principal.userId), gt(breakGlassGrants.expiresAt, now)));
  const openCases = new Map<string, string[]>();
  for (const r of caseRows) openCases.set(r.id, [...(openCases.get(r.id) ?? []), r.agencyId]);
  return {
    subjectId,
    consents: consentRows.map((r) => ({
      id: r.id,
      disclosers: [r.discloser],
      tiers: r.tiers as Tier[],
      sensitiveCategories: r.sensitiveCategories as SensitiveCategory[],
    })),
    openCases: [...openCases].map(([id, releasedBy]) => ({ id, releasedBy: releasedBy.sort() })),
    breakGlass: grantRows as SubjectContext['breakGlass'],
  };
}
