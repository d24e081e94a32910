import { eq, inArray } from 'drizzle-orm';
import type { Basis } from '../../audit/vocabulary.js';
import type { Executor } from '../../db/client.js';
import { agencies, breakGlassGrants, cases, consents } from '../../db/schema/index.js';

export interface BasisFacts {
  consents: Map<string, { recordedAt: Date; validUntil: Date | null; discloser: string }>;
  cases: Map<string, { title: string; openedAt: Date }>;
  breakGlass: Map<string, { expiresAt: Date }>;
}

/**
 * The dates, names and titles behind an `access.basis` (the consents, cases and break-glass
 * grants the decision rested on), so a person can be told in words why they see what they see.
 * Only ids the decision point already granted on are looked up, after the read whose entry names them.
 */
export async function describeBasis(db: Executor, basis: Basis[]): Promise<BasisFacts> {
  const ids = (key: 'consentId' | 'caseId' | 'breakGlassId') => [...new Set(basis.flatMap((b) => (b[key] ? [b[key]] : [])))];
  const facts: BasisFacts = { consents: new Map(), cases: new Map(), breakGlass: new Map() };
  const consentIds = ids('consentId');
  if (consentIds.length) {
    const rows = await db
      .select({ id: consents.id, recordedAt: consents.createdAt, validUntil: consents.validUntil, discloser: agencies.name })
      .from(consents)
      .innerJoin(agencies, eq(agencies.id, consents.agencyId))
      .where(inArray(consents.id, consentIds));
    for (const { id, ...r } of rows) facts.consents.set(id, r);
  }
  const caseIds = ids('caseId');
  if (caseIds.length) {
    const rows = await db.select({ id: cases.id, title: cases.title, openedAt: cases.createdAt }).from(cases).where(inArray(cases.id, caseIds));
    for (const { id, ...r } of rows) facts.cases.set(id, r);
  }
  const grantIds = ids('breakGlassId');
  if (grantIds.length) {
    const rows = await db
      .select({ id: breakGlassGrants.id, expiresAt: breakGlassGrants.expiresAt })
      .from(breakGlassGrants)
      .where(inArray(breakGlassGrants.id, grantIds));
    for (const { id, ...r } of rows) facts.breakGlass.set(id, r);
  }
  return facts;
}
