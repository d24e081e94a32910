import { and, arrayContains, asc, eq, getTableColumns, isNull, or } from 'drizzle-orm';
import type { DecisionPoint } from '../../authz/decide.js';
import type { Principal } from '../../auth/principal.js';
import type { AuditScope } from '../../audit/audited.js';
import { runStatement, type Executor, type Statement } from '../../db/client.js';
import { agencies, consents } from '../../db/schema/index.js';
import { BadRequest, Conflict, Forbidden, NotFound } from '../../errors/problems.js';
import { findSubject } from '../subjects/repository.js';
import type { z } from 'zod';
import type { createConsentBody } from './schemas.js';

type ConsentRow = typeof consents.$inferSelect;
type ConsentBody = z.infer<typeof createConsentBody>;

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
    // jsonb columns, written only from the validated body (createConsentBody).
    recipients: row.recipients as ConsentBody['recipients'],
    tiers: row.tiers,
    sensitiveCategories: row.sensitiveCategories,
    purpose: row.purpose,
    validFrom: row.validFrom,
    validUntil: row.validUntil,
    evidence: row.evidence as ConsentBody['evidence'],
    createdAt: row.createdAt,
    revokedAt: row.revokedAt,
    revocationReason: row.revocationReason,
  };
}

// A consent recorded in one round trip: the person must exist and every recipient agency named
// by slug must exist and be enabled, or nothing is inserted; the answer says which failed.
// Parameters: $1 person, $2 recipient slugs, $3 recipients (as given), $4 recipient kinds,
// $5 tiers, $6 sensitive categories, $7 purpose, $8 valid from, $9 valid until, $10 evidence,
// $11 the recording agency, $12 the recording user.
const INSERT_CONSENT: Statement = {
  name: 'tiergate_insert_consent',
  text: `WITH subj AS (SELECT id FROM subjects WHERE id = $1::uuid),
              known AS (SELECT coalesce(array_agg(a.id), '{}') AS ids, coalesce(array_agg(a.slug), '{}') AS slugs
                          FROM agencies a WHERE a.slug = ANY ($2::text[]) AND a.disabled_at IS NULL),
              ins AS (INSERT INTO consents (subject_id, recipients, recipient_agency_ids, recipient_kinds, tiers, sensitive_categories, purpose,
                                            valid_from, valid_until, evidence, agency_id, recorded_by)
                      SELECT subj.id, $3::jsonb, known.ids, $4::text[], $5::text[], $6::text[], $7::text,
                             $8::timestamptz, $9::timestamptz, $10::jsonb, $11::uuid, $12::uuid
                        FROM subj, known WHERE cardinality(known.slugs) = cardinality($2::text[])
                      RETURNING *)
         SELECT EXISTS (SELECT 1 FROM subj) AS "subjectFound", known.slugs AS "knownSlugs",
                ins.id, ins.subject_id AS "subjectId", ins.recipients, ins.recipient_agency_ids AS "recipientAgencyIds",
                ins.recipient_kinds AS "recipientKinds", ins.tiers, ins.sensitive_categories AS "sensitiveCategories", ins.purpose,
                ins.valid_from AS "validFrom", ins.valid_until AS "validUntil", ins.evidence, ins.agency_id AS "agencyId",
                ins.recorded_by AS "recordedBy", ins.created_at AS "createdAt", ins.revoked_at AS "revokedAt", ins.revoked_by AS "revokedBy",
                ins.revocation_reason AS "revocationReason"
           FROM known LEFT JOIN ins ON true`,
};

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
    const slugs = [...new Set(body.recipients.flatMap((r) => ('agency' in r ? [r.agency] : [])))];
    const kinds = [...new Set(body.recipients.flatMap((r) => ('agencyKind' in r ? [r.agencyKind] : [])))];
    const [row] = await runStatement<Partial<ConsentRow> & { subjectFound: boolean; knownSlugs: string[] }>(tx, INSERT_CONSENT, [
      subjectId,
      slugs,
      JSON.stringify(body.recipients),
      kinds,
      body.tiers,
      body.sensitiveCategories,
      body.purpose,
      body.validFrom ?? new Date().toISOString(),
      body.validUntil ?? null,
      JSON.stringify(body.evidence),
      principal.agencyId,
      principal.userId,
    ]);
    if (!row!.subjectFound) throw new NotFound('subject');
    const unknown = slugs.filter((s) => !row!.knownSlugs.includes(s));
    if (unknown.length)
      throw new BadRequest(
        'A recipient agency is unknown or disabled.',
        unknown.map((s) => ({ path: 'recipients', message: `unknown agency ${s}` })),
      );
    const consent = row as ConsentRow;
    note({ detail: { consentId: consent.id } });
    return present({ ...consent, discloser: principal.agency });
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
