import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { expect } from 'vitest';
import type { SensitiveCategory } from '../../src/authz/vocabulary.js';

// test/policy-matrix.yaml read once, for both of its runners: over HTTP
// (test/integration/policy-matrix.test.ts) and at the decision seam (test/unit/policy-matrix.test.ts).
// One reading of the cell codes, so the two can never disagree on what a cell promises.

export const CASE_STATES = ['none', 'open-member', 'open-non-member', 'closed'] as const;
export const CONSENT_STATES = ['none', 'active', 'expired', 'not-yet-valid', 'revoked', 'other-agency', 'caller-kind', 'active-su'] as const;
export type CaseState = (typeof CASE_STATES)[number];
export type ConsentState = (typeof CONSENT_STATES)[number];

export const THIRD_PARTY = ['INT', 'INT_SU', 'FULL', 'FULL_PN'] as const;
export const OWN = ['OWN_INT', 'OWN_INT_SU', 'OWN_FULL', 'OWN_FULL_PN', 'MINE_FULL_PN'] as const;
export type EntryName = (typeof THIRD_PARTY)[number] | (typeof OWN)[number];
export const ENTRY_SHAPES: Record<EntryName, { tier: 'intermediate' | 'full'; sensitivity: SensitiveCategory[]; own: boolean }> = {
  INT: { tier: 'intermediate', sensitivity: [], own: false },
  INT_SU: { tier: 'intermediate', sensitivity: ['substance-use'], own: false },
  FULL: { tier: 'full', sensitivity: [], own: false },
  FULL_PN: { tier: 'full', sensitivity: ['psychotherapy-notes'], own: false },
  OWN_INT: { tier: 'intermediate', sensitivity: [], own: true },
  OWN_INT_SU: { tier: 'intermediate', sensitivity: ['substance-use'], own: true },
  OWN_FULL: { tier: 'full', sensitivity: [], own: true },
  OWN_FULL_PN: { tier: 'full', sensitivity: ['psychotherapy-notes'], own: true },
  MINE_FULL_PN: { tier: 'full', sensitivity: ['psychotherapy-notes'], own: true },
};
/** The OWN_* entries are written by a colleague of the caller's agency; MINE_* by the caller itself. */
export const AUTHORED_BY_CALLER: readonly EntryName[] = ['MINE_FULL_PN'];

export const RELEASE_SCENARIOS = ['consent-by-non-owner', 'case-by-non-owner', 'owner-joins', 'added-by-non-participant', 'added-by-owner'] as const;
export type ReleaseScenario = (typeof RELEASE_SCENARIOS)[number];
export const TIER_ORDER = ['basic', 'intermediate', 'full'] as const;
export type Tier = (typeof TIER_ORDER)[number];

// ---- the table ------------------------------------------------------------------------------

export interface OwnContributionRow {
  status?: number;
  tier?: Tier;
  entries?: string[];
  basis?: string[];
}

export interface Table {
  caseStates: string[];
  consentStates: string[];
  roles: Record<string, Record<string, string[]>>;
  ownContribution: Record<string, OwnContributionRow>;
  releaseScenarios: string[];
  releases: Record<string, Record<string, string>>;
}
export const TABLE_KEYS = ['caseStates', 'consentStates', 'roles', 'ownContribution', 'releaseScenarios', 'releases'] as const;
export const table = parse(readFileSync(new URL('../policy-matrix.yaml', import.meta.url), 'utf8')) as Table;

/** What a cell code (`403`, or `<tier>[+su] [by consent|case|consent+case]`) promises. */
export interface Expectation {
  status: 200 | 403;
  tier?: Tier;
  entries: EntryName[];
  byConsent: boolean;
  byCase: boolean;
  /** Per-entry bases besides the tier grants: own-contribution and author, each with its tier. */
  entryBasis: { tier: Tier; rule: string }[];
}

const CODE = /^(?:(403)|(basic|intermediate|full)(\+su)?(?: by (consent|case|consent\+case))?(, no entries)?)$/;
export function expectationOf(code: string): Expectation {
  const m = CODE.exec(String(code).trim());
  if (!m) throw new Error(`policy-matrix.yaml: unknown cell code "${code}"`);
  if (m[1]) return { status: 403, entries: [], byConsent: false, byCase: false, entryBasis: [] };
  const tier = m[2] as Tier;
  const entries: EntryName[] = tier === 'basic' || m[5] ? [] : tier === 'intermediate' ? ['INT'] : ['INT', 'FULL'];
  if (m[3]) {
    if (tier === 'basic') throw new Error(`policy-matrix.yaml: "${code}": +su needs a tier above basic`);
    entries.push('INT_SU');
  }
  const by = m[4] ?? '';
  return { status: 200, tier, entries, byConsent: by.includes('consent'), byCase: by.includes('case'), entryBasis: [] };
}

/** What an `ownContribution` row promises (consent none, case none, the OWN_* entries added). */
export function ownExpectationOf(row: OwnContributionRow): Expectation {
  if (row.status === 403) return expectationOf('403');
  return {
    status: 200,
    tier: row.tier!,
    entries: (row.entries ?? []) as EntryName[],
    byConsent: false,
    byCase: false,
    entryBasis: (row.basis ?? []).map((b) => {
      const [rule, tier] = b.split('@');
      return { rule: rule!, tier: tier as Tier };
    }),
  };
}

export interface Cell {
  role: string;
  consent: ConsentState;
  case: CaseState;
  code: string;
  expect: Expectation;
}

export function cellsOf(role: string): Cell[] {
  const grid = table.roles[role]!;
  return CONSENT_STATES.flatMap((consent) =>
    CASE_STATES.map((caseState, i) => {
      const code = String(grid[consent]![i]);
      return { role, consent, case: caseState, code, expect: expectationOf(code) };
    }),
  );
}

/** Every cell the yaml holds, counted leaf by leaf without the constants above: the grid, own contribution, releases. */
export function cellsInTable(): number {
  const grid = Object.values(table.roles).flatMap((g) => Object.values(g).flat()).length;
  const releases = Object.values(table.releases).flatMap((r) => Object.values(r)).length;
  return grid + Object.keys(table.ownContribution).length + releases;
}

/** The roles of the policy as `kind/role`. */
export const rolesOf = (policy: { roles: Partial<Record<string, Record<string, unknown>>> }) =>
  Object.entries(policy.roles).flatMap(([kind, roles]) => Object.keys(roles ?? {}).map((r) => `${kind}/${r}`));

/** A basis entry as a comparable string, its keys in order. */
export const basisKey = (b: object) => JSON.stringify(Object.fromEntries(Object.entries(b).sort(([a], [c]) => a.localeCompare(c))));

/** The table names every role of the policy in every table, every state in order, and only codes it can read. */
export function expectWellFormed(policyRoles: string[]): void {
  expect(Object.keys(table).sort()).toEqual([...TABLE_KEYS].sort());
  expect(table.caseStates).toEqual([...CASE_STATES]);
  expect(table.consentStates).toEqual([...CONSENT_STATES]);
  expect(Object.keys(table.roles).sort()).toEqual([...policyRoles].sort());
  expect(Object.keys(table.ownContribution).sort()).toEqual([...policyRoles].sort());
  expect(table.releaseScenarios).toEqual([...RELEASE_SCENARIOS]);
  expect(Object.keys(table.releases).sort()).toEqual([...policyRoles].sort());
  for (const [role, row] of Object.entries(table.releases)) {
    expect(Object.keys(row), role).toEqual([...RELEASE_SCENARIOS]);
    for (const code of Object.values(row)) expectationOf(String(code));
  }
  for (const [role, grid] of Object.entries(table.roles)) {
    expect(Object.keys(grid), role).toEqual([...CONSENT_STATES]);
    for (const row of Object.values(grid)) {
      expect(row).toHaveLength(CASE_STATES.length);
      for (const code of row) expectationOf(String(code));
    }
  }
  for (const [role, row] of Object.entries(table.ownContribution)) {
    const want = ownExpectationOf(row);
    for (const name of want.entries) expect(OWN as readonly string[], `ownContribution.${role}`).toContain(name);
  }
}
