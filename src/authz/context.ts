import { and, arrayContains, eq, gt, isNull, lte, or } from 'drizzle-orm';
import type { Executor } from '../db/client.js';
import { breakGlassGrants, caseMembers, cases, consents } from '../db/schema/index.js';
import type { Principal } from '../auth/principal.js';
import type { SensitiveCategory, Tier } from './vocabulary.js';

/** The facts about one person that the policy needs for this principal, read in the request's transaction. */
export interface SubjectContext {
  subjectId: string;
  /** Active, unrevoked consents valid now that name the principal's agency or agency kind. */
  consents: { id: string; tiers: Tier[]; sensitiveCategories: SensitiveCategory[] }[];
  /** Open cases for the person of which the principal is a current member. */
  openCaseIds: string[];
  /** Unexpired break-glass grants of this principal for the person. */
  breakGlass: { id: string; tier: Tier }[];
}

export async function loadSubjectContext(db: Executor, principal: Principal, subjectId: string, now = new Date()): Promise<SubjectContext> {
  // Sequential: `db` is usually the request's transaction, one connection.
  const consentRows = await db
    .select({ id: consents.id, tiers: consents.tiers, sensitiveCategories: consents.sensitiveCategories })
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
  const caseRows = await db
    .select({ id: cases.id })
    .from(cases)
    .innerJoin(caseMembers, and(eq(caseMembers.caseId, cases.id), eq(caseMembers.userId, principal.userId), isNull(caseMembers.removedAt)))
    .where(and(eq(cases.subjectId, subjectId), eq(cases.status, 'open')));
  const grantRows = await db
    .select({ id: breakGlassGrants.id, tier: breakGlassGrants.tier })
    .from(breakGlassGrants)
    .where(and(eq(breakGlassGrants.subjectId, subjectId), eq(breakGlassGrants.userId, principal.userId), gt(breakGlassGrants.expiresAt, now)));
  return {
    subjectId,
    consents: consentRows as SubjectContext['consents'],
    openCaseIds: caseRows.map((r) => r.id),
    breakGlass: grantRows as SubjectContext['breakGlass'],
  };
}
