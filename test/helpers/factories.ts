import { randomUUID } from 'node:crypto';
import type { AppDeps } from '../../src/deps.js';
import { hashPassword } from '../../src/auth/passwords.js';
import type { AgencyKind, SensitiveCategory } from '../../src/authz/vocabulary.js';
import type { Db } from '../../src/db/client.js';
import { agencies, caseMembers, caseParticipants, cases, clinicalEntries, consents, subjects, users } from '../../src/db/schema/index.js';

export const TEST_PASSWORD = 'correct horse battery staple';
let passwordHash: Promise<string> | undefined;

export interface TestUser {
  userId: string;
  username: string;
  agencyId: string;
  agency: string;
  kind: AgencyKind;
  role: string;
  token: string;
}

const short = () => randomUUID().slice(0, 8);

export async function createAgency(db: Db, kind: AgencyKind, slug = `${kind.replace('_', '-')}-${short()}`) {
  const [row] = await db
    .insert(agencies)
    .values({ slug, name: `Test ${slug}`, kind })
    .returning();
  return row!;
}

/** A user with a real signed access token from the app's own token service. */
export async function createUser(
  deps: AppDeps,
  agency: { id: string; slug: string; kind: string },
  role: string,
  username = `${role}-${short()}@${agency.slug}`,
): Promise<TestUser> {
  passwordHash ??= hashPassword(TEST_PASSWORD);
  const [row] = await deps.db
    .insert(users)
    // A compliance officer made here stands for one that audited before approvals were structural.
    .values({
      username,
      agencyId: agency.id,
      role,
      passwordHash: await passwordHash,
      ...(role === 'compliance_officer' ? { approverBasis: 'pre-existing' } : {}),
    })
    .returning();
  const token = await deps.tokens.issue({ userId: row!.id, agency: agency.slug, agencyKind: agency.kind, role, amr: ['pwd'] });
  return { userId: row!.id, username, agencyId: agency.id, agency: agency.slug, kind: agency.kind as AgencyKind, role, token };
}

export async function createSubject(db: Db, by: TestUser, overrides: Partial<typeof subjects.$inferInsert> = {}) {
  const [row] = await db
    .insert(subjects)
    .values({
      givenName: 'Test',
      familyName: `Person${short()}`,
      birthDate: '1980-01-01',
      sex: 'unknown',
      agencyId: by.agencyId,
      createdBy: by.userId,
      ...overrides,
    })
    .returning();
  return row!;
}

/** A clinical entry whose summary and content carry a unique marker, to detect leaks in any body. */
export async function createEntry(
  db: Db,
  subjectId: string,
  by: TestUser,
  tier: 'intermediate' | 'full',
  sensitivity: SensitiveCategory[] = [],
  kind = 'note',
) {
  const marker = `MARK-${tier}-${sensitivity.join('+') || 'plain'}-${short()}`;
  const [row] = await db
    .insert(clinicalEntries)
    .values({
      subjectId,
      kind,
      tier,
      sensitivity,
      summary: `summary ${marker}`,
      content: { text: `content ${marker}` },
      agencyId: by.agencyId,
      createdBy: by.userId,
    })
    .returning();
  return { ...row!, marker };
}

export async function createConsent(
  db: Db,
  subjectId: string,
  by: TestUser,
  opts: { agencyIds?: string[]; kinds?: string[]; categories?: SensitiveCategory[]; validFrom?: Date; validUntil?: Date | null; revoked?: boolean },
) {
  const [row] = await db
    .insert(consents)
    .values({
      subjectId,
      recipients: [...(opts.agencyIds ?? []).map((a) => ({ agencyId: a })), ...(opts.kinds ?? []).map((k) => ({ agencyKind: k }))],
      recipientAgencyIds: opts.agencyIds ?? [],
      recipientKinds: opts.kinds ?? [],
      tiers: ['intermediate'],
      sensitiveCategories: opts.categories ?? [],
      purpose: 'care-coordination',
      validFrom: opts.validFrom ?? new Date(Date.now() - 86_400_000),
      validUntil: opts.validUntil === undefined ? new Date(Date.now() + 86_400_000) : opts.validUntil,
      evidence: { form: 'written' },
      agencyId: by.agencyId,
      recordedBy: by.userId,
      ...(opts.revoked ? { revokedAt: new Date(), revokedBy: by.userId, revocationReason: 'test' } : {}),
    })
    .returning();
  return row!;
}

export async function createCase(db: Db, subjectId: string, by: TestUser, members: TestUser[], status: 'open' | 'closed' = 'open') {
  const [row] = await db
    .insert(cases)
    .values({
      subjectId,
      title: 'test case',
      status,
      agencyId: by.agencyId,
      openedBy: by.userId,
      ...(status === 'closed' ? { closedAt: new Date(), closedBy: by.userId } : {}),
    })
    .returning();
  // The opener's agency brings its records in, as POST /v1/cases does.
  await db.insert(caseParticipants).values({ caseId: row!.id, agencyId: by.agencyId, joinedBy: by.userId });
  if (members.length) await db.insert(caseMembers).values(members.map((m) => ({ caseId: row!.id, userId: m.userId, addedBy: by.userId })));
  return row!;
}

export const bearer = (u: { token: string }) => ({ Authorization: `Bearer ${u.token}` });
