import type { Principal } from '../../auth/principal.js';
import type { AuditScope } from '../../audit/audited.js';
import type { DecisionPoint } from '../../authz/decide.js';
import { NotFound } from '../../errors/problems.js';
import * as repo from './repository.js';

export const SEARCH_LIMIT = 20;
const BASIC_BASIS = [{ tier: 'basic', rule: 'partner-read' }];

export class SubjectService {
  constructor(private readonly pdp: DecisionPoint) {}

  async search({ tx, note }: AuditScope, name: string, dob: string) {
    // One more than is shown, to say whether the list was cut; the extra row never leaves.
    const rows = await repo.searchSubjects(tx, name, dob, SEARCH_LIMIT + 1);
    const found = rows.slice(0, SEARCH_LIMIT);
    const truncated = rows.length > SEARCH_LIMIT;
    // The search terms are person data: the log keeps only which records were disclosed.
    note({ tier: 'basic', basis: BASIC_BASIS, detail: { matches: found.map((s) => s.id), ...(truncated ? { truncated } : {}) } });
    return { subjects: found, truncated };
  }

  async read({ tx, note }: AuditScope, principal: Principal, id: string) {
    note({ subjectId: id });
    // The person, their flags and the policy's context in one statement; the entries in a second,
    // filtered by what the decision releases.
    const found = await repo.findSubjectRecord(tx, principal, id);
    if (!found) throw new NotFound('subject');
    const { subject, riskFlags: flags, context } = found;
    const decision = this.pdp.decideFromContext(principal, context);
    const rows = await repo.listVisibleEntries(tx, id, decision.entryGrants);
    // The SQL filter narrows; the policy decides. A row the policy refuses never leaves.
    const carried = rows.filter((e) => decision.canSeeEntry(e));
    const access = decision.describe(carried);
    const entries = carried.map(({ agencyId: _agency, authorUserId: _author, ...entry }) => entry);
    note({
      tier: access.tier,
      basis: access.basis,
      breakGlass: decision.breakGlass,
      detail: {
        entries: entries.map((e) => ({ id: e.id, kind: e.kind, tier: e.tier })),
        ...(access.notices ? { notices: access.notices.map((n) => ({ code: n.code, statement: n.statement })) } : {}),
      },
    });
    return { subject: { ...subject, riskFlags: flags, entries }, access };
  }

  async riskFlags({ tx, note }: AuditScope, id: string) {
    note({ subjectId: id, tier: 'basic', basis: BASIC_BASIS });
    const found = await repo.findSubjectWithFlags(tx, id);
    if (!found) throw new NotFound('subject');
    return { riskFlags: found.riskFlags };
  }

  async create({ tx, note }: AuditScope, principal: Principal, body: Omit<repo.BasicSubject, 'id'>) {
    const created = await repo.insertSubject(tx, { ...body, agencyId: principal.agencyId, createdBy: principal.userId });
    note({ subjectId: created.id, basis: [{ rule: 'contribute-subject' }] });
    return created;
  }

  async addRiskFlag({ tx, note }: AuditScope, principal: Principal, subjectId: string, body: { code: string; severity: string; note?: string }) {
    note({ subjectId, basis: [{ rule: 'contribute-risk-flag' }] });
    if (!(await repo.findSubject(tx, subjectId))) throw new NotFound('subject');
    const row = await repo.insertRiskFlag(tx, { subjectId, ...body, note: body.note ?? null, agencyId: principal.agencyId, createdBy: principal.userId });
    note({ detail: { riskFlagId: row.id } });
    return { id: row.id, subjectId, ...body, note: body.note ?? null, contributedBy: principal.agency, createdAt: row.createdAt };
  }

  async addEntry(
    { tx, note }: AuditScope,
    principal: Principal,
    subjectId: string,
    body: { kind: string; tier: string; sensitivity: string[]; summary: string; content: Record<string, unknown> },
  ) {
    note({ subjectId, basis: [{ rule: 'contribute-entry' }] });
    if (!(await repo.findSubject(tx, subjectId))) throw new NotFound('subject');
    const row = await repo.insertEntry(tx, { subjectId, ...body, agencyId: principal.agencyId, createdBy: principal.userId });
    note({ tier: body.tier, detail: { entryId: row.id, kind: body.kind } });
    return { id: row.id, subjectId, ...body, contributedBy: principal.agency, createdAt: row.createdAt };
  }
}
