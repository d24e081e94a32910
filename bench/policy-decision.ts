// `npm run bench:policy [-- 20000]`: the cost of one policy decision, in process, no database:
// a record read's decision for a principal with one person's consents and cases, as the decision
// point makes it (the grants, every entry checked, the access block), and the type-level route
// check alone (compiling the CASL ability). Prints p50 and p99 per decision.
import { randomUUID } from 'node:crypto';
import type { AuditedRunner } from '../src/audit/audited.js';
import type { Principal } from '../src/auth/principal.js';
import { compileAbility } from '../src/authz/ability.js';
import type { SubjectContext } from '../src/authz/context.js';
import { DecisionPoint } from '../src/authz/decide.js';
import { loadPolicy } from '../src/authz/policy.js';

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
    authorUserId: randomUUID(),
  }));
// The decision logs nothing: no runner is needed.
const pdp = new DecisionPoint(policy, undefined as unknown as AuditedRunner);

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

measure('route check: ability by type, can(read, Subject)', () => compileAbility(policy, doctor).can('read', 'Subject'));
for (const [consents, cases] of [
  [1, 1],
  [5, 2],
  [25, 5],
] as const) {
  const ctx = context(consents, cases);
  const rows = entries(ctx.subjectId);
  measure(`record read: ${consents} consent(s), ${cases} case(s), 10 entries`, () => {
    // A principal per request, as the gateway has: the ability is compiled once for it.
    const decision = pdp.decideFromContext({ ...doctor }, ctx);
    const seen = rows.filter((e) => decision.canSeeEntry(e));
    return decision.describe(seen).basis.length;
  });
}
