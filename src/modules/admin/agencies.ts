import { asc, eq } from 'drizzle-orm';
import type { AuditScope } from '../../audit/audited.js';
import type { Policy } from '../../authz/policy.js';
import type { AgencyKind } from '../../authz/vocabulary.js';
import { agencies } from '../../db/schema/index.js';
import { Conflict } from '../../errors/problems.js';
import { agencyBySlug, agencyColumns, review, type Operator } from './lookups.js';
import type { CreateAgencyInput } from './schemas.js';

/** Agencies: create, list, disable (which stops every token of its users and clients). */
export class AgencyAdmin {
  constructor(private readonly policy: Policy) {}

  async create({ tx, note }: AuditScope, input: CreateAgencyInput) {
    const [row] = await tx.insert(agencies).values(input).onConflictDoNothing({ target: agencies.slug }).returning(agencyColumns);
    if (!row) throw new Conflict('An agency with this slug already exists.');
    note({ detail: { agencyId: row.id, kind: row.kind } });
    return row;
  }

  async list({ tx, note }: AuditScope) {
    const rows = await tx.select(agencyColumns).from(agencies).orderBy(asc(agencies.slug));
    note({ detail: { count: rows.length } });
    return { agencies: rows };
  }

  async disable({ tx, note }: AuditScope, slug: string, operator: Operator) {
    const agency = await agencyBySlug(tx, slug);
    note({ detail: { agencyId: agency.id } });
    if (operator && operator.agencyId === agency.id) throw new Conflict('An admin cannot disable their own agency.');
    if (agency.disabledAt) return agency;
    const [row] = await tx.update(agencies).set({ disabledAt: new Date() }).where(eq(agencies.id, agency.id)).returning(agencyColumns);
    const approvalId = await review(
      this.policy,
      tx,
      operator,
      'agency.disable',
      { agencyKind: agency.kind as AgencyKind, role: '' },
      { agencyId: agency.id, change: {} },
    );
    if (approvalId) note({ detail: { agencyId: agency.id, approvalId } });
    return { ...row!, ...(approvalId ? { approvalId } : {}) };
  }
}
