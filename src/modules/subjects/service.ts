import type { Principal } from '../../auth/principal.js';
import type { AuditScope, Disclosure, ReadScope } from '../../audit/audited.js';
import type { DecisionPoint } from '../../authz/decide.js';
import { BadRequest, Conflict, Forbidden, NotFound } from '../../errors/problems.js';
import type { Executor } from '../../db/client.js';
import { defaultMatchingPolicy, rankCandidates, rankSearch, type MatchPolicy, type Ranked } from '../../matching/index.js';
import * as repo from './repository.js';
import { findRecordContext, type RecordContext } from './record-context.js';

/** A record's context read with the principal, for this person (undefined: unknown person). */
export interface HeldRecordContext {
  subjectId: string;
  record: RecordContext | undefined;
}
import {
  blockCandidates,
  findByIdentifier,
  lockCreationsLike,
  shown,
  rememberNotDuplicates,
  searchBlockQuery,
  type Identifier,
  type ShownPerson,
} from './candidates.js';
import type { CreateSubject, SearchTerms } from './schemas.js';

export const SEARCH_LIMIT = 20;
const BASIC_BASIS = [{ tier: 'basic', rule: 'partner-read' }];

type MatchInput = Omit<CreateSubject, 'notDuplicateOf' | 'reason'>;
export type GradedPerson = ShownPerson & Ranked;
/** A creation's outcome: the person, or the candidates that refused it (a 409). */
export type Created = { created: repo.BasicSubject & { createdAt: Date; identifiers: Identifier[] } } | { duplicate: GradedPerson[] };

/** The people shown, in the ranking's order, each with its grade, score and reasons. */
function graded(shown: ShownPerson[], ranked: (Ranked & { candidate: { id: string } })[]): GradedPerson[] {
  const byId = new Map(shown.map((p) => [p.id, p]));
  return ranked.flatMap(({ candidate, score, grade, reasons }) => {
    const person = byId.get(candidate.id);
    return person ? [{ ...person, grade, score, reasons }] : [];
  });
}

export class SubjectService {
  private readonly matching: MatchPolicy;

  constructor(
    private readonly pdp: DecisionPoint,
    matching?: MatchPolicy,
  ) {
    this.matching = matching ?? defaultMatchingPolicy();
  }

  /**
   * Search by name and date of birth, with the matcher's tolerances, or by one agency identifier.
   * The block and its scoring decide who is shown (read on `db`, nothing of it leaves); the people
   * shown are then read with the log entry that names them, best first, each with its grade.
   */
  async search({ db, disclose }: ReadScope, principal: Principal, terms: SearchTerms) {
    const block = (name: string, dob: string) => blockCandidates(db, principal.agencyId, searchBlockQuery(name, dob), this.matching);
    const ranked =
      'identifier' in terms
        ? (await findByIdentifier(db, principal.agencyId, terms.identifier)).map((candidate) => ({
            candidate,
            score: 1,
            grade: 'certain' as const,
            reasons: [`identifier from ${terms.identifier.system} agrees`],
          }))
        : rankSearch({ name: terms.name, birthDate: terms.dob }, await block(terms.name, terms.dob), this.matching);
    const found = ranked.slice(0, SEARCH_LIMIT);
    const truncated = ranked.length > SEARCH_LIMIT;
    const ids = found.map((r) => r.candidate.id);
    // The search terms are person data: the log keeps only which records were disclosed.
    const facts = { tier: 'basic', basis: BASIC_BASIS, detail: { matches: ids, ...(truncated ? { truncated } : {}) } };
    return disclose(shown(principal.agencyId, ids), facts).map((people) => ({ subjects: graded(people, found), truncated }));
  }

  /** Ranked candidates for a person about to be created: basic-tier disclosures, logged as such. */
  async match({ db, disclose }: ReadScope, principal: Principal, body: MatchInput) {
    const ranked = (await this.rank(db, principal, body)).slice(0, SEARCH_LIMIT);
    const ids = ranked.map((r) => r.candidate.id);
    const facts = { tier: 'basic', basis: BASIC_BASIS, detail: { matches: ids } };
    return disclose(shown(principal.agencyId, ids), facts).map((people) => ({ candidates: graded(people, ranked) }));
  }

  private async rank(db: Executor, principal: Principal, body: MatchInput) {
    const input = { ...body, identifiers: body.identifiers ?? [] };
    const block = await blockCandidates(
      db,
      principal.agencyId,
      { names: [body.givenName, body.familyName], givenNames: [body.givenName, body.familyName], birthDate: body.birthDate, identifiers: input.identifiers },
      this.matching,
    );
    return rankCandidates(input, block, this.matching);
  }

  /**
   * The record read. What decides it (the context, and the facts of the person's entries) is read
   * first, in one statement (`held`: already read with the principal, by the API route's principal
   * step; otherwise here, at this moment; a long record's facts in a second, narrowed by the
   * grants); the decision point picks the entries to carry, so the log entry is then known in
   * full, and the data that leaves (person, flags, those entries' content) is read with it in one
   * statement. No entry's content is read unless the policy released it.
   */
  async read({ db, note, disclose }: ReadScope, principal: Principal, id: string, held?: HeldRecordContext) {
    note({ subjectId: id });
    const found = held?.subjectId === id ? held.record : await findRecordContext(db, principal, id, new Date());
    if (!found) throw new NotFound('subject');
    const decision = this.pdp.decideFromContext(principal, found.context);
    const facts = found.entries ?? (await repo.listEntryFacts(db, id, decision.entryGrants));
    const carried = facts.filter((e) => decision.canSeeEntry(e));
    const access = decision.describe(carried);
    const entry = {
      tier: access.tier,
      basis: access.basis,
      breakGlass: decision.breakGlass,
      detail: {
        entries: carried.map((e) => ({ id: e.id, kind: e.kind, tier: e.tier })),
        ...(access.notices ? { notices: access.notices.map((n) => ({ code: n.code, statement: n.statement })) } : {}),
      },
    };
    const record = repo.record(
      id,
      carried.map((e) => e.id),
      decision.entryGrants,
      principal.agencyId,
    );
    return disclose(record, entry).map((found) => {
      if (!found) throw new NotFound('subject');
      return { subject: { ...found.subject, riskFlags: found.riskFlags, entries: found.entries }, access };
    });
  }

  async riskFlags({ note, disclose }: ReadScope, id: string) {
    note({ subjectId: id });
    return disclose(repo.subjectWithFlags(id), { tier: 'basic', basis: BASIC_BASIS }).map((found) => {
      if (!found) throw new NotFound('subject');
      return { riskFlags: found.riskFlags };
    });
  }

  /**
   * A creation asks first (SPEC "One person, one record"), in the transaction of the insert and
   * under the creation locks of the birth date (candidates.ts says what they cover): a certain or
   * probable candidate refuses it (the refusal shows the candidates and is logged with them, so
   * the transaction commits), unless `notDuplicateOf` names every such candidate, with a reason;
   * those decisions are remembered. Identifiers given are the caller's agency's own.
   */
  async create({ tx, note, disclose }: AuditScope, principal: Principal, body: CreateSubject): Promise<Created | Disclosure<Created>> {
    note({ basis: [{ rule: 'contribute-subject' }] });
    const identifiers = body.identifiers ?? [];
    if (identifiers.some((i) => i.system !== principal.agency))
      throw new Forbidden('identifier-other-agency', 'An agency adds identifiers in its own system only.');
    await lockCreationsLike(tx, body.birthDate);
    const ranked = (await this.rank(tx, principal, body)).slice(0, SEARCH_LIMIT);
    const declared = new Set(body.notDuplicateOf ?? []);
    const unknown = [...declared].filter((id) => !ranked.some((r) => r.candidate.id === id));
    if (unknown.length)
      throw new BadRequest('The request body is invalid.', [{ path: 'notDuplicateOf', message: 'names someone who is not a candidate for this person' }]);
    const refusing = ranked.filter((r) => (r.grade === 'certain' || r.grade === 'probable') && !declared.has(r.candidate.id));
    if (refusing.length) {
      const ids = ranked.map((r) => r.candidate.id);
      const facts = { tier: 'basic', reason: 'possible-duplicate', detail: { matches: ids, refused: 'possible-duplicate' } };
      return disclose(shown(principal.agencyId, ids), facts).map((people): Created => ({ duplicate: graded(people, ranked) }));
    }
    const { notDuplicateOf: _declared, reason, identifiers: _ids, ...person } = body;
    const created = await repo.insertSubject(tx, { ...person, agencyId: principal.agencyId, createdBy: principal.userId });
    for (const i of identifiers) await this.insertIdentifier(tx, principal, created.id, i.value);
    const decisions = await rememberNotDuplicates(tx, created.id, [...declared], reason ?? '', principal.userId);
    note({
      subjectId: created.id,
      detail: declared.size ? { notDuplicateOf: [...declared], decisions } : {},
    });
    return { created: { ...created, identifiers } };
  }

  /** Adds the caller's agency's identifier to a person; 409 when it is another person's. */
  async addIdentifier({ tx, note }: AuditScope, principal: Principal, subjectId: string, body: Identifier) {
    note({ subjectId, basis: [{ rule: 'contribute-identifier' }] });
    if (body.system !== principal.agency) throw new Forbidden('identifier-other-agency', 'An agency adds identifiers in its own system only.');
    if (!(await repo.findSubject(tx, subjectId))) throw new NotFound('subject');
    const added = await this.insertIdentifier(tx, principal, subjectId, body.value);
    note({ detail: { identifierId: added.id } });
    return { created: added.created, identifier: { id: added.id, subjectId, system: principal.agency, value: body.value } };
  }

  private async insertIdentifier(tx: Executor, principal: Principal, subjectId: string, value: string) {
    const row = await repo.insertIdentifier(tx, { subjectId, agencyId: principal.agencyId, value, addedBy: principal.userId });
    if (!row || row.subjectId !== subjectId) throw new Conflict("This identifier is already held by another person in your agency's system.");
    return row;
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
