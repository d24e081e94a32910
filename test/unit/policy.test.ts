import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { DEFAULT_POLICY_FILE, ownContributionOf, parsePolicy } from '../../src/authz/policy.js';

// The loader refuses an ownContribution that contradicts the fixed rules: psychotherapy notes are
// read by their author alone, and no role sees its own agency's entries above its ceiling.

const raw = () => parse(readFileSync(DEFAULT_POLICY_FILE, 'utf8')) as { roles: Record<string, Record<string, Record<string, unknown>>> };

describe('ownContribution in the policy', () => {
  it('the default policy loads, and a role without ownContribution sees none of its agency entries', () => {
    const policy = parsePolicy(raw());
    expect(ownContributionOf(policy, 'mental_health', 'peer_specialist')).toEqual({ tiers: ['intermediate', 'full'], categories: [] });
    expect(ownContributionOf(policy, 'police', 'dispatcher')).toEqual({ tiers: [], categories: [] });
    expect(ownContributionOf(policy, 'police', 'no_such_role')).toEqual({ tiers: [], categories: [] });
  });

  it('refuses psychotherapy notes under any role (author only, fixed in code)', () => {
    const p = raw();
    p.roles.mental_health!.clinician!.ownContribution = { tiers: ['intermediate', 'full'], categories: ['psychotherapy-notes'] };
    expect(() => parsePolicy(p)).toThrow(/roles\.mental_health\.clinician\.ownContribution\.categories\.0: psychotherapy notes are read by their author alone/);
  });

  it('refuses own-agency tiers above the role ceiling, and any ownContribution for a role that reads no person data', () => {
    const above = raw();
    above.roles.police!.records_staff!.ownContribution = { tiers: ['full'], categories: [] };
    expect(() => parsePolicy(above)).toThrow(/police\.records_staff\.ownContribution lists full, above the role's ceiling/);
    const operator = raw();
    operator.roles.gateway!.admin!.ownContribution = { tiers: ['intermediate'], categories: [] };
    expect(() => parsePolicy(operator)).toThrow(/gateway\.admin/);
    const unknown = raw();
    unknown.roles.hospital!.clinician!.ownContribution = { tiers: ['intermediate'], categories: ['genetics'] };
    expect(() => parsePolicy(unknown)).toThrow(/invalid policy/);
  });
});
