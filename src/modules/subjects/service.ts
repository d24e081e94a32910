import type { Principal } from '../../auth/principal.js';
import type { AuditScope, ReadScope } from '../../audit/audited.js';
import type { DecisionPoint } from '../../authz/decide.js';
import { NotFound } from '../../errors/problems.js';
import * as repo from './repository.js';
import { findRecordContext, type RecordContext } from './record-context.js';

/** A record's context read with the principal, for this person (undefined: unknown person). */
export interface HeldRecordContext {
  subjectId: string;
  record: RecordContext | undefined;
}

export const SEARCH_LIMIT = 20;
const BASIC_BASIS = [{ tier: 'basic', rule: 'partner-read' }];

export class SubjectService {
  constructor(private readonly pdp: DecisionPoint) {}

  async search({ note, read }: ReadScope, name: string, dob: string) {
    note({ tier: 'basic', basis: BASIC_BASIS });
    // One more than is shown, to say whether the list was cut; the extra row never leaves.
    const rows = await repo.searchSubjects(read, name, dob, SEARCH_LIMIT + 1);
    const found = rows.slice(0, SEARCH_LIMIT);
    const truncated = rows.length > SEARCH_LIMIT;
    // The search terms are person data: the log keeps only which records were disclosed. Read
    // with its entry, the statement wrote this from the rows; in a transaction the entry is
    // written after the work, with this.
    note({ detail: { matches: found.map((s) => s.id), ...(truncated ? { truncated } : {}) } });
    return { subjects: found, truncated };
  }

  /**
   * The record read. What decides it (the context, and the facts of the person's entries) is read
   * first, in one statement (`held`: already read with the principal, by the API route's principal
   * step; otherwise here, at this moment; a long record's facts in a second, narrowed by the
   * grants); the decision point picks the entries to carry, so the log entry is then known in
   * full, and the data that leaves (person, flags, those entries' content) is read with it in one
   * statement. No entry's content is read unless the policy released it.
   */
  async read({ db, note, read }: ReadScope, principal: Principal, id: string, held?: HeldRecordContext) {
    note({ subjectId: id });
    const found = held?.subjectId === id ? held.record : await findRecordContext(db, principal, id, new Date());
    if (!found) throw new NotFound('subject');
    const decision = this.pdp.decideFromContext(principal, found.context);
    const facts = found.entries ?? (await repo.listEntryFacts(db, id, decision.entryGrants));
    const carried = facts.filter((e) => decision.canSeeEntry(e));
    const access = decision.describe(carried);
    note({
      tier: access.tier,
      basis: access.basis,
      breakGlass: decision.breakGlass,
      detail: {
        entries: carried.map((e) => ({ id: e.id, kind: e.kind, tier: e.tier })),
        ...(access.notices ? { notices: access.notices.map((n) => ({ code: n.code, statement: n.statement })) } : {}),
      },
    });
    const record = await repo.readRecord(
      read,
      id,
      carried.map((e) => e.id),
      decision.entryGrants,
    );
    if (!record) throw new NotFound('subject');
    return { subject: { ...record.subject, riskFlags: record.riskFlags, entries: record.entries }, access };
  }

  async riskFlags({ note, read }: ReadScope, id: string) {
    note({ subjectId: id, tier: 'basic', basis: BASIC_BASIS });
    const found = await repo.readSubjectWithFlags(read, id);
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
