import { describe, expect, it } from 'vitest';
import type { Principal } from '../../src/auth/principal.js';
import { AuditedRunner } from '../../src/audit/audited.js';
import type { SubjectContext } from '../../src/authz/context.js';
import { DecisionPoint, type AccessBlock, type EntryFacts } from '../../src/authz/decide.js';
import { REDISCLOSURE_NOTICE } from '../../src/authz/notices.js';
import { loadPolicy } from '../../src/authz/policy.js';
import type { AgencyKind } from '../../src/authz/vocabulary.js';
import type { Db } from '../../src/db/client.js';
import { Forbidden } from '../../src/errors/problems.js';
import { createLogger } from '../../src/logger.js';
import {
  AUTHORED_BY_CALLER,
  basisKey,
  cellsInTable,
  cellsOf,
  ENTRY_SHAPES,
  expectationOf,
  expectWellFormed,
  OWN,
  ownExpectationOf,
  RELEASE_SCENARIOS,
  rolesOf,
  table,
  THIRD_PARTY,
  TIER_ORDER,
  type CaseState,
  type ConsentState,
  type EntryName,
  type Expectation,
  type ReleaseScenario,
} from '../helpers/policy-matrix.js';

// test/policy-matrix.yaml at the decision seam: every cell the HTTP matrix runs
// (test/integration/policy-matrix.test.ts), without HTTP or a database. Each cell's principal and
// SubjectContext are built in memory as the context statement (src/authz/context.ts) would read
// them, the cell's entries go through `canSeeEntry`, and what is carried through `describe`.
// The HTTP matrix proves what the statement reads for each state; this file proves what the
// decision makes of it, cell by cell, in well under a second.

const policy = loadPolicy();

/** A database the decision must never touch: any use of it fails the test. */
const noDatabase = new Proxy(
  {},
  {
    get: (_target, key) => {
      throw new Error(`the decision seam touched the database (${String(key)})`);
    },
  },
) as Db;
const pdp = new DecisionPoint(policy, new AuditedRunner(noDatabase, createLogger('silent', { pretty: false, destination: { write: () => undefined } })));

// ---- who and what -----------------------------------------------------------------------------

/** The third agency (mental health) that contributed every INT/FULL entry, recorded the consents and opened the cases. */
const THIRD = 'agency:third-mh';
const CONTRIBUTOR = 'user:third-mh/clinician';
/** A fourth agency that owns none of the entries. */
const STRANGER = 'agency:fourth-mh';

/** The caller of each role; callers of one agency kind share one agency, as over HTTP. */
function principalOf(role: string, over: Partial<Principal> = {}): Principal {
  const [kind, name] = role.split('/') as [AgencyKind, string];
  return {
    userId: `user:${role}`,
    username: `${name}@caller-${kind}`,
    agencyId: `agency:caller-${kind}`,
    agency: `caller-${kind}`,
    agencyKind: kind,
    role: name,
    jti: `jti:${role}`,
    amr: ['pwd'],
    ...over,
  };
}

/** The fixture entries as the facts the decision sees: who contributed and who wrote each. */
function entriesOf(caller: Principal, names: readonly EntryName[]): Map<EntryName, EntryFacts> {
  return new Map(
    names.map((name) => {
      const shape = ENTRY_SHAPES[name];
      const author = !shape.own ? CONTRIBUTOR : AUTHORED_BY_CALLER.includes(name) ? caller.userId : `user:colleague-of/${caller.agencyId}`;
      return [name, { tier: shape.tier, sensitivity: shape.sensitivity, agencyId: shape.own ? caller.agencyId : THIRD, authorUserId: author }];
    }),
  );
}

const SUBJECT = 'subject:matrix';
const consent = (id: string, disclosers: string[], sensitiveCategories: SubjectContext['consents'][number]['sensitiveCategories'] = []) => ({
  id,
  disclosers,
  tiers: ['intermediate' as const],
  sensitiveCategories,
});

// What the context statement reads for each state. It reads only consents that are unrevoked,
// valid now and name the caller's agency or kind, and only open cases the caller is a current
// member of, with the agencies that release to it: so expired, not-yet-valid, revoked and
// other-agency consents, and closed cases or cases of others, are not in the context at all.
const CONSENT_IN_CONTEXT: Record<ConsentState, SubjectContext['consents']> = {
  none: [],
  active: [consent('consent:active', [THIRD])],
  expired: [],
  'not-yet-valid': [],
  revoked: [],
  'other-agency': [],
  'caller-kind': [consent('consent:caller-kind', [THIRD])],
  'active-su': [consent('consent:active-su', [THIRD], ['substance-use'])],
};
const CASE_IN_CONTEXT: Record<CaseState, SubjectContext['openCases']> = {
  none: [],
  'open-member': [{ id: 'case:open-member', releasedBy: [THIRD] }],
  'open-non-member': [],
  closed: [],
};
const RELEASE_IN_CONTEXT: Record<ReleaseScenario, Pick<SubjectContext, 'consents' | 'openCases'>> = {
  'consent-by-non-owner': { consents: [consent('consent:by-stranger', [STRANGER], ['substance-use', 'psychotherapy-notes'])], openCases: [] },
  'case-by-non-owner': { consents: [], openCases: [{ id: 'case:by-stranger', releasedBy: [STRANGER] }] },
  'owner-joins': { consents: [], openCases: [{ id: 'case:owner-joins', releasedBy: [STRANGER, THIRD].sort() }] },
  // Added by a member whose agency never joined, before the owner did: no participant releases to
  // the caller, and the statement yields no row for such a case.
  'added-by-non-participant': { consents: [], openCases: [] },
  'added-by-owner': { consents: [], openCases: [{ id: 'case:by-owner', releasedBy: [THIRD] }] },
};

const contextOf = (parts: Partial<SubjectContext> = {}): SubjectContext => ({ subjectId: SUBJECT, consents: [], openCases: [], breakGlass: [], ...parts });

// ---- the decision and the check -------------------------------------------------------------

type Outcome =
  { status: 403; reason: string } | { status: 200; entries: EntryName[]; access: AccessBlock; breakGlass: boolean; seen: (name: EntryName) => boolean };

/** What GET /v1/subjects/:id would answer, decided at the seam: every fixture entry through `canSeeEntry`, the carried ones through `describe`. */
function decide(principal: Principal, context: SubjectContext, entries: Map<EntryName, EntryFacts>): Outcome {
  let decision;
  try {
    decision = pdp.decideFromContext(principal, context);
  } catch (err) {
    if (err instanceof Forbidden) return { status: 403, reason: err.reason };
    throw err;
  }
  const carried = [...entries].filter(([, facts]) => decision.canSeeEntry(facts)).map(([name]) => name);
  const access = decision.describe(carried.map((name) => entries.get(name)!));
  return { status: 200, entries: carried, access, breakGlass: decision.breakGlass, seen: (name) => carried.includes(name) };
}

/** The cell's promise, as the HTTP matrix checks it: the refusal, or the tier, the entries carried, the withheld tiers and the exact basis. */
function check(principal: Principal, context: SubjectContext, entries: Map<EntryName, EntryFacts>, want: Expectation) {
  const got = decide(principal, context, entries);
  if (want.status === 403) {
    expect(got).toEqual({ status: 403, reason: 'no-rule:read:Subject' });
    return;
  }
  if (got.status !== 200) throw new Error(`refused (${got.reason}); the cell promises ${want.tier}`);
  const tier = want.tier!;
  expect([...got.entries].sort()).toEqual([...want.entries].sort());
  expect(got.access.tier).toBe(tier);
  expect(got.access.withheld).toEqual(TIER_ORDER.slice(TIER_ORDER.indexOf(tier) + 1));

  // The basis names the rule and the consent or case it rests on, and nothing else.
  const basis: object[] = [{ tier: 'basic', rule: 'partner-read' }];
  if (want.byConsent) {
    expect(context.consents).toHaveLength(1);
    basis.push({ tier: 'intermediate', rule: 'consent', consentId: context.consents[0]!.id });
  }
  if (want.byCase) {
    expect(context.openCases).toHaveLength(1);
    for (const granted of TIER_ORDER.slice(1, TIER_ORDER.indexOf(tier) + 1))
      basis.push({ tier: granted, rule: 'open-case-member', caseId: context.openCases[0]!.id });
  }
  basis.push(...want.entryBasis);
  expect(got.access.basis.map(basisKey).sort()).toEqual(basis.map(basisKey).sort());

  // Beyond the HTTP matrix: another agency's substance-use entry carries the 42 CFR 2.32 notice, nothing else does.
  const partTwo = got.entries.some((name) => ENTRY_SHAPES[name].sensitivity.includes('substance-use') && entries.get(name)!.agencyId !== principal.agencyId);
  expect(got.access.notices?.map((n) => n.code)).toEqual(partTwo ? [REDISCLOSURE_NOTICE] : undefined);
  expect(got.breakGlass).toBe(false);
}

// ---- the table, every cell ------------------------------------------------------------------

/** Every cell run here, to prove at the end that none of the yaml was left out. */
const exercised = new Set<string>();

describe('policy-matrix.yaml', () => {
  it('names every role of the policy in every table, every state in order, and only known codes', () => {
    expectWellFormed(rolesOf(policy));
  });
});

describe.each(Object.keys(table.roles))('%s at the seam', (role) => {
  it.each(cellsOf(role).map((c) => [`consent ${c.consent} × case ${c.case} → ${c.code}`, c] as const))('%s', (_name, cell) => {
    const caller = principalOf(role);
    const context = contextOf({ consents: CONSENT_IN_CONTEXT[cell.consent], openCases: CASE_IN_CONTEXT[cell.case] });
    check(caller, context, entriesOf(caller, THIRD_PARTY), cell.expect);
    exercised.add(`roles.${role}.${cell.consent}.${cell.case}`);
  });
});

describe('own contribution at the seam (no consent, no case)', () => {
  it.each(Object.entries(table.ownContribution))('%s', (role, row) => {
    const caller = principalOf(role);
    check(caller, contextOf(), entriesOf(caller, [...THIRD_PARTY, ...OWN]), ownExpectationOf(row));
    exercised.add(`ownContribution.${role}`);
  });
});

describe('disclosers × participation at the seam: only the owner releases', () => {
  const cells = Object.keys(table.releases).flatMap((role) =>
    RELEASE_SCENARIOS.map((sc) => [`${role} · ${sc} → ${table.releases[role]![sc]}`, role, sc] as const),
  );
  it.each(cells)('%s', (_name, role, scenario) => {
    const caller = principalOf(role);
    check(caller, contextOf(RELEASE_IN_CONTEXT[scenario]), entriesOf(caller, THIRD_PARTY), expectationOf(String(table.releases[role]![scenario])));
    exercised.add(`releases.${role}.${scenario}`);
  });
});

// ---- deny twins: one fact flipped turns an allowed cell into a denial -------------------------

describe('deny twins at the seam', () => {
  const officer = principalOf('police/officer');
  const thirdParty = entriesOf(officer, THIRD_PARTY);

  it('a consent revoked, expired or naming another agency leaves the context: the tier falls to basic', () => {
    const active = contextOf({ consents: CONSENT_IN_CONTEXT.active });
    check(officer, active, thirdParty, expectationOf('intermediate by consent'));
    check(officer, contextOf(), thirdParty, expectationOf('basic'));
  });

  it('a case closed, or the caller removed from it, leaves the context: full falls to basic', () => {
    const clinician = principalOf('hospital/clinician');
    const entries = entriesOf(clinician, THIRD_PARTY);
    check(clinician, contextOf({ openCases: CASE_IN_CONTEXT['open-member'] }), entries, expectationOf('full by case'));
    check(clinician, contextOf(), entries, expectationOf('basic'));
  });

  it("a consent recorded by another agency grants the tier but none of the owner's entries", () => {
    const clerk = principalOf('police/records_staff');
    const entries = entriesOf(clerk, THIRD_PARTY);
    check(clerk, contextOf({ consents: [consent('consent:x', [THIRD])] }), entries, expectationOf('intermediate by consent'));
    check(clerk, contextOf({ consents: [consent('consent:x', [STRANGER])] }), entries, expectationOf('intermediate by consent, no entries'));
  });

  it('a consent that does not name substance use withholds the substance-use entry', () => {
    const withSu = decide(officer, contextOf({ consents: CONSENT_IN_CONTEXT['active-su'] }), thirdParty);
    const without = decide(officer, contextOf({ consents: [consent('consent:active-su', [THIRD])] }), thirdParty);
    expect(withSu.status === 200 && withSu.seen('INT_SU')).toBe(true);
    expect(without.status === 200 && without.seen('INT_SU')).toBe(false);
    check(officer, contextOf({ consents: [consent('consent:active-su', [THIRD])] }), thirdParty, expectationOf('intermediate by consent'));
  });

  it('a consent never lifts above intermediate, whatever tiers it lists', () => {
    const both = { ...consent('consent:both', [THIRD]), tiers: ['intermediate' as const, 'full' as const] };
    check(officer, contextOf({ consents: [both] }), thirdParty, expectationOf('intermediate by consent'));
  });

  // The statement yields no row for such a case today; the decision must not lean on that.
  it('an open case that reaches the caller from no participant grants nothing', () => {
    check(officer, contextOf({ openCases: [{ id: 'case:x', releasedBy: [THIRD] }] }), thirdParty, expectationOf('full by case'));
    check(officer, contextOf({ openCases: [{ id: 'case:x', releasedBy: [] }] }), thirdParty, expectationOf('basic'));
  });

  it('own contribution belongs to the agency: the same role in another agency of the kind sees none of it', () => {
    const role = 'mental_health/clinician';
    const caller = principalOf(role);
    const entries = entriesOf(caller, [...THIRD_PARTY, ...OWN]);
    check(caller, contextOf(), entries, ownExpectationOf(table.ownContribution[role]!));
    const elsewhere = principalOf(role, { userId: 'user:elsewhere', agencyId: 'agency:other-mh', agency: 'other-mh' });
    check(elsewhere, contextOf(), entries, expectationOf('basic'));
  });

  it("a psychotherapy note is its author's alone: a colleague of the same agency and role does not see it", () => {
    const role = 'hospital/clinician';
    const author = principalOf(role);
    const entries = entriesOf(author, ['MINE_FULL_PN']);
    const mine = decide(author, contextOf({ openCases: [{ id: 'case:x', releasedBy: [author.agencyId] }] }), entries);
    const colleague = decide(
      principalOf(role, { userId: 'user:colleague' }),
      contextOf({ openCases: [{ id: 'case:x', releasedBy: [author.agencyId] }] }),
      entries,
    );
    expect(mine.status === 200 && mine.entries).toEqual(['MINE_FULL_PN']);
    expect(colleague.status === 200 && colleague.entries).toEqual([]);
  });

  it("a machine client acting for the user lowers the ceiling to the client's role; an unknown client role is refused", () => {
    const member = contextOf({ openCases: CASE_IN_CONTEXT['open-member'] });
    check(officer, member, thirdParty, expectationOf('full by case'));
    check({ ...officer, clientId: 'cad', clientRole: 'records_staff' }, member, thirdParty, expectationOf('intermediate by case'));
    check({ ...officer, clientId: 'cad', clientRole: 'dispatcher' }, member, thirdParty, expectationOf('basic'));
    check({ ...officer, clientId: 'cad', clientRole: 'no-such-role' }, member, thirdParty, expectationOf('403'));
  });

  it('a role the policy does not know is refused, whatever the context grants', () => {
    const full = contextOf({ consents: CONSENT_IN_CONTEXT['active-su'], openCases: CASE_IN_CONTEXT['open-member'] });
    check(officer, full, thirdParty, expectationOf('full+su by consent+case'));
    check({ ...officer, role: 'no-such-role' }, full, thirdParty, expectationOf('403'));
    check({ ...officer, agencyKind: 'gateway' }, full, thirdParty, expectationOf('403'));
  });
});

// Runs last (vitest runs a file's tests in order).
describe('the whole table', () => {
  it('ran every cell of the yaml at the seam, and the yaml has the cells it had', () => {
    expect(exercised.size).toBe(cellsInTable());
    // 9 roles × 8 consent states × 4 case states, 9 own-contribution rows, 9 roles × 5 release scenarios.
    expect(cellsInTable()).toBe(9 * 8 * 4 + 9 + 9 * 5);
  });
});
