// `npm run bench:policy [-- 20000]`: the cost of one policy decision, in process, no database:
// building the CASL ability for a principal with one person's consents and cases
// (compileAbility), then checking it the way a record read does (the tiers granted, the basis
// rules, every entry). Also the type-level route check alone. Prints p50 and p99 per decision.
import { randomUUID } from 'node:crypto';
import { subject as as } from '@casl/ability';
import type { Principal } from '../src/auth/principal.js';
import { compileAbility, tierField } from '../src/authz/ability.js';
import type { SubjectContext } from '../src/authz/context.js';
import { loadPolicy } from '../src/authz/policy.js';
import { TIERS } from '../src/authz/vocabulary.js';

const iterations = Number(process.argv[2] ?? 20_000);
const policy = loadPolicy();
const doctor: Principal = {
  userId: randomUUID(),
  username: 'doctor@city-hospital',
  agencyId: randomUUID(),
  agency: 'city-hospital',
  agencyKind: 'hospital',
  amr: ['pwd'],
  role: 'clinician',
  jti: randomUUID(),
};

function context(consents: number, cases: number): SubjectContext {
  return {
    subjectId: randomUUID(),
    consents: Array.from({ length: consents }, (_, i) => ({
      id: randomUUID(),
      disclosers: [randomUUID()],
      tiers: ['intermediate'],
      sensitiveCategories: i % 2 ? ['substance-use'] : [],
    })) as SubjectContext['consents'],
    openCases: Array.from({ length: cases }, () => ({ id: randomUUID(), releasedBy: [randomUUID(), doctor.agencyId] })),
    breakGlass: [],
  };
}

const entries = (subjectId: string) =>
  Array.from({ length: 10 }, (_, i) => ({
    subjectId,
    tier: i % 2 ? 'full' : 'intermediate',
    sensitivity: i % 3 ? [] : ['substance-use'],
    agencyId: i % 4 ? randomUUID() : doctor.agencyId,
  }));

function measure(label: string, decide: () => unknown): void {
  for (let i = 0; i < Math.min(2_000, iterations); i++) decide(); // warm the JIT
  const times = new Float64Array(iterations);
  for (let i = 0; i < iterations; i++) {
    const t0 = performance.now();
    decide();
    times[i] = performance.now() - t0;
  }
  times.sort();
  const pct = (p: number) => times[Math.min(iterations - 1, Math.floor((p / 100) * iterations))]! * 1000;
  console.log(`${label.padEnd(58)} p50 ${pct(50).toFixed(1).padStart(6)} µs  p99 ${pct(99).toFixed(1).padStart(6)} µs  (${iterations} decisions)`);
}

measure('route check: ability by type, can(read, Subject)', () => compileAbility(policy, doctor).ability.can('read', 'Subject'));
for (const [consents, cases] of [
  [1, 1],
  [5, 2],
  [25, 5],
] as const) {
  const ctx = context(consents, cases);
  const rows = entries(ctx.subjectId);
  measure(`record read: ${consents} consent(s), ${cases} case(s), 10 entries`, () => {
    const { ability } = compileAbility(policy, doctor, ctx);
    const record = as('Subject', { id: ctx.subjectId } as Record<string, unknown>);
    const granted = TIERS.filter((t) => ability.can('read', record, tierField(t)));
    const basis = ability.rulesFor('read', 'Subject').filter((r) => !r.inverted && r.matchesConditions(record));
    const seen = rows.filter((e) => ability.can('read', as('Entry', { ...e } as Record<string, unknown>)));
    return granted.length + basis.length + seen.length;
  });
}
