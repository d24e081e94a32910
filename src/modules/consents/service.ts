import { and, arrayContains, asc, eq, getTableColumns, inArray, isNull, or } from 'drizzle-orm';
import type { DecisionPoint } from '../../authz/decide.js';
import type { Principal } from '../../auth/principal.js';
import type { AuditScope } from '../../audit/audited.js';
import type { Executor } from '../../db/client.js';
import { agencies, consents } from '../../db/schema/index.js';
import { BadRequest, Conflict, Forbidden, NotFound } from '../../errors/problems.js';
import { findSubject } from '../subjects/repository.js';
import type { z } from 'zod';
import type { createConsentBody } from './schemas.js';

type ConsentRow = typeof consents.$inferSelect;

export function consentStatus(row: ConsentRow, now = new Date()): 'active' | 'revoked' | 'pending' | 'expired' {
  if (row.revokedAt) return 'revoked';
  if (row.validFrom > now) return 'pending';
  if (row.validUntil && row.validUntil <= now) return 'expired';
  return 'active';
}

function present(row: ConsentRow & { discloser: string }) {
  return {
    id: row.id,
    subjectId: row.subjectId,
    status: consentStatus(row),
    disclosers: [row.discloser],
    recipients: row.recipients,
    tiers: row.tiers,
    sensitiveCategories: row.sensitiveCategories,
    purpose: row.purpose,
    validFrom: row.validFrom,
    validUntil: row.validUntil,
    evidence: row.evidence,
    createdAt: row.createdAt,
    revokedAt: row.revokedAt,
    revocationReason: row.revocationReason,
  };
}

async function resolveAgencies(db: Executor, slugs: string[]): Promise<string[]> {
  if (slugs.length === 0) return [];
  const rows = await db
    .select({ id: agencies.id, slug: agencies.slug })
    .from(agencies)
    .where(and(inArray(agencies.slug, slugs), isNull(agencies.disabledAt)));
  const unknown = slugs.filter((s) => !rows.some((r) => r.slug === s));
  if (unknown.length)
    throw new BadRequest(
      'A recipient agency is unknown or disabled.',
      unknown.map((s) => ({ path: 'recipients', message: `unknown agency ${s}` })),
    );
  return rows.map((r) => r.id);
}

const consentColumns = { ...getTableColumns(consents), discloser: agencies.slug };

/** The consents of one person (or one consent) with the discloser's slug. */
function selectConsents(db: Executor) {
  return db.select(consentColumns).from(consents).innerJoin(agencies, eq(agencies.id, consents.agencyId));
}

export class ConsentService {
  constructor(private readonly pdp: DecisionPoint) {}

  /**
   * The consents the caller's agency is party to: those it recorded (as discloser) and those
   * that name it or its kind as recipient. Filtered in SQL; another agency's consents never
   * leave, not even by count. The listing is a disclosure and is logged with the ids shown.
   */
  async list({ tx, note }: AuditScope, principal: Principal, subjectId: string) {
    note({ subjectId, basis: [{ rule: 'consent-party' }] });
    if (!(await findSubject(tx, subjectId))) throw new NotFound('subject');
    const rows = await selectConsents(tx)
      .where(
        and(
          eq(consents.subjectId, subjectId),
          or(
            eq(consents.agencyId, principal.agencyId),
            arrayContains(consents.recipientAgencyIds, [principal.agencyId]),
            arrayContains(consents.recipientKinds, [principal.agencyKind]),
          ),
        ),
      )
      .orderBy(asc(consents.createdAt), asc(consents.id));
    note({ detail: { consents: rows.map((r) => r.id) } });
    return { consents: rows.map(present) };
  }

  async create({ tx, note }: AuditScope, principal: Principal, subjectId: string, body: z.infer<typeof createConsentBody>) {
    note({ subjectId, basis: [{ rule: 'manage-consent' }] });
    // The data owner releases: a consent discloses only the recording clinician's own agency's entries.
    if (body.disclosers && body.disclosers.some((d) => d !== principal.agency)) {
      throw new Forbidden('consent-discloser-not-own-agency', 'A consent may name only your own agency as discloser.');
    }
    if (!(await findSubject(tx, subjectId))) throw new NotFound('subject');
    const slugs = [...new Set(body.recipients.flatMap((r) => ('agency' in r ? [r.agency] : [])))];
    const kinds = [...new Set(body.recipients.flatMap((r) => ('agencyKind' in r ? [r.agencyKind] : [])))];
    const [row] = await tx
      .insert(consents)
      .values({
        subjectId,
        recipients: body.recipients,
        recipientAgencyIds: await resolveAgencies(tx, slugs),
        recipientKinds: kinds,
        tiers: body.tiers,
        sensitiveCategories: body.sensitiveCategories,
        purpose: body.purpose,
        validFrom: body.validFrom ? new Date(body.validFrom) : new Date(),
        validUntil: body.validUntil ? new Date(body.validUntil) : null,
        evidence: body.evidence,
        agencyId: principal.agencyId,
        recordedBy: principal.userId,
      })
      .returning();
    note({ detail: { consentId: row!.id } });
    return present({ ...row!, discloser: principal.agency });
  }

  /** Only a clinician of a discloser agency revokes (the data owner withdraws its own release). */
  async revoke({ tx, note }: AuditScope, principal: Principal, consentId: string, reason: string) {
    note({ basis: [{ rule: 'consent-discloser' }], detail: { consentId } });
    const [row] = await tx.select().from(consents).where(eq(consents.id, consentId)).for('update').limit(1);
    if (!row) throw new NotFound('consent');
    note({ subjectId: row.subjectId });
    this.pdp.assertAllowed(principal, 'revoke', 'Consent', { disclosers: [row.agencyId] });
    if (row.revokedAt) throw new Conflict('The consent is already revoked.');
    const [updated] = await tx
      .update(consents)
      .set({ revokedAt: new Date(), revokedBy: principal.userId, revocationReason: reason })
      .where(and(eq(consents.id, consentId), isNull(consents.revokedAt)))
      .returning();
    return present({ ...updated!, discloser: principal.agency });
  }
}
