import { count, eq } from 'drizzle-orm';
import { hashPassword } from '../../auth/passwords.js';
import type { Db } from '../client.js';
import { agencies, bootstrapSteps, caseMembers, caseParticipants, cases, clinicalEntries, consents, riskFlags, subjects, users } from '../schema/index.js';

export const DEMO_AGENCIES = [
  { slug: 'metro-police', name: 'Metro Police Department', kind: 'police' },
  { slug: 'harbor-mh', name: 'Harbor Mental Health', kind: 'mental_health' },
  { slug: 'city-hospital', name: 'City Hospital', kind: 'hospital' },
  { slug: 'gateway', name: 'tiergate operations', kind: 'gateway' },
] as const;

export const DEMO_USERS = [
  { username: 'clerk@metro-police', agency: 'metro-police', role: 'records_staff' },
  { username: 'officer@metro-police', agency: 'metro-police', role: 'officer' },
  { username: 'clinician@harbor-mh', agency: 'harbor-mh', role: 'clinician' },
  { username: 'peer@harbor-mh', agency: 'harbor-mh', role: 'peer_specialist' },
  { username: 'doctor@city-hospital', agency: 'city-hospital', role: 'clinician' },
  { username: 'compliance@gateway', agency: 'gateway', role: 'compliance_officer' },
  { username: 'admin@gateway', agency: 'gateway', role: 'admin' },
] as const;

/**
 * Seeds the demo tenancy of SPEC into an empty database (no agencies yet); returns false and
 * touches nothing otherwise. Fictional people only.
 */
export async function seedDemo(db: Db, password: string): Promise<boolean> {
  const passwordHash = await hashPassword(password);
  return db.transaction(async (tx) => {
    const [{ n }] = (await tx.select({ n: count() }).from(agencies)) as [{ n: number }];
    if (n > 0) return false;
    const ag = Object.fromEntries(
      (
        await tx
          .insert(agencies)
          .values([...DEMO_AGENCIES])
          .returning()
      ).map((a) => [a.slug, a.id]),
    );
    const us = Object.fromEntries(
      (
        await tx
          .insert(users)
          .values(DEMO_USERS.map((u) => ({ username: u.username, agencyId: ag[u.agency]!, role: u.role, passwordHash })))
          .returning()
      ).map((u) => [u.username, u.id]),
    );
    // The demo's compliance officer is the deployment's one bootstrap auditor (SPEC principle 14).
    await tx.insert(bootstrapSteps).values({ step: 'first-auditor', userId: us['compliance@gateway']! });
    await tx.update(users).set({ approverBasis: 'bootstrap' }).where(eq(users.id, us['compliance@gateway']!));
    const mh = { agencyId: ag['harbor-mh']!, createdBy: us['clinician@harbor-mh']! };
    const hosp = { agencyId: ag['city-hospital']!, createdBy: us['doctor@city-hospital']! };

    const [ada, alan, grace, edsger] = await tx
      .insert(subjects)
      .values([
        { givenName: 'Ada', familyName: 'Lovelace', birthDate: '1985-02-03', sex: 'female', ...mh },
        { givenName: 'Alan', familyName: 'Turing', birthDate: '1982-06-23', sex: 'male', ...mh },
        { givenName: 'Grace', familyName: 'Hopper', birthDate: '1976-12-09', sex: 'female', ...hosp },
        { givenName: 'Edsger', familyName: 'Dijkstra', birthDate: '1990-05-11', sex: 'male', ...hosp },
      ])
      .returning();

    await tx.insert(riskFlags).values([
      { subjectId: ada!.id, code: 'weapon-access', severity: 'high', note: 'Reports a kitchen knife kept by the bed.', ...mh },
      { subjectId: ada!.id, code: 'de-escalation', severity: 'medium', note: 'Calm voice, no uniforms at the door; responds to first name.', ...mh },
      { subjectId: alan!.id, code: 'preferred-responder', severity: 'low', note: 'Ask for the Harbor MH mobile crisis team.', ...mh },
      { subjectId: grace!.id, code: 'self-harm-risk', severity: 'high', note: null, ...hosp },
      { subjectId: edsger!.id, code: 'de-escalation', severity: 'low', note: 'Give space; avoid touching.', ...hosp },
    ]);

    await tx.insert(clinicalEntries).values([
      {
        subjectId: ada!.id,
        kind: 'diagnosis',
        tier: 'intermediate',
        sensitivity: [],
        summary: 'Bipolar I disorder, most recent episode manic',
        content: { code: 'F31.1' },
        ...mh,
      },
      {
        subjectId: ada!.id,
        kind: 'crisis-plan',
        tier: 'intermediate',
        sensitivity: [],
        summary: 'Crisis plan: call sister first; prefers Harbor MH',
        content: { steps: ['call sister', 'mobile crisis team'] },
        ...mh,
      },
      {
        subjectId: ada!.id,
        kind: 'treatment',
        tier: 'intermediate',
        sensitivity: ['substance-use'],
        summary: 'Opioid use disorder, on buprenorphine',
        content: { program: 'Harbor OTP' },
        ...mh,
      },
      { subjectId: ada!.id, kind: 'note', tier: 'full', sensitivity: [], summary: 'Case note: housing instability since March', content: {}, ...mh },
      { subjectId: ada!.id, kind: 'contact', tier: 'full', sensitivity: [], summary: 'Sister: Annabella, 555-0101', content: { relation: 'sister' }, ...mh },
      {
        subjectId: alan!.id,
        kind: 'diagnosis',
        tier: 'intermediate',
        sensitivity: [],
        summary: 'Generalised anxiety disorder',
        content: { code: 'F41.1' },
        ...mh,
      },
      { subjectId: alan!.id, kind: 'note', tier: 'full', sensitivity: ['psychotherapy-notes'], summary: 'Psychotherapy session notes', content: {}, ...mh },
      {
        subjectId: grace!.id,
        kind: 'diagnosis',
        tier: 'intermediate',
        sensitivity: [],
        summary: 'Major depressive disorder, recurrent',
        content: { code: 'F33.2' },
        ...hosp,
      },
      { subjectId: grace!.id, kind: 'treatment', tier: 'full', sensitivity: [], summary: 'Inpatient admission after overdose', content: {}, ...hosp },
      // City Hospital's own note on Ada: the hospital has not joined Ada's case from its agency,
      // so the case does not carry it to Harbor (SPEC principle 8); the doctor sees it as its own.
      { subjectId: ada!.id, kind: 'note', tier: 'full', sensitivity: [], summary: 'ED visit: discharged to Harbor MH follow-up', content: {}, ...hosp },
    ]);

    const now = Date.now();
    const year = 365 * 24 * 3600 * 1000;
    await tx.insert(consents).values([
      // Active: Ada lets City Hospital and any police agency see intermediate facts, substance-use included.
      {
        subjectId: ada!.id,
        recipients: [{ agency: 'city-hospital' }, { agencyKind: 'police' }],
        recipientAgencyIds: [ag['city-hospital']!],
        recipientKinds: ['police'],
        tiers: ['intermediate'],
        sensitiveCategories: ['substance-use'],
        purpose: 'care-coordination',
        validFrom: new Date(now - 30 * 24 * 3600 * 1000),
        validUntil: new Date(now + year),
        evidence: { form: 'written', reference: 'Harbor MH consent form 2026-07' },
        ...{ agencyId: mh.agencyId, recordedBy: mh.createdBy },
      },
      // Revoked: Grace withdrew her consent for the police.
      {
        subjectId: grace!.id,
        recipients: [{ agencyKind: 'police' }],
        recipientAgencyIds: [],
        recipientKinds: ['police'],
        tiers: ['intermediate'],
        sensitiveCategories: [],
        purpose: 'crisis-response',
        validFrom: new Date(now - 60 * 24 * 3600 * 1000),
        validUntil: null,
        evidence: { form: 'verbal', witness: 'Charge nurse on duty' },
        agencyId: hosp.agencyId,
        recordedBy: hosp.createdBy,
        revokedAt: new Date(now - 2 * 24 * 3600 * 1000),
        revokedBy: hosp.createdBy,
        revocationReason: 'Withdrawn by the patient at discharge',
      },
    ]);

    // Open case for Ada; team: the Harbor clinician and the City Hospital doctor.
    const [adaCase] = await tx
      .insert(cases)
      .values({ subjectId: ada!.id, title: 'Ada Lovelace: co-responder follow-up', ...{ agencyId: mh.agencyId, openedBy: mh.createdBy } })
      .returning();
    // Harbor opened it, so Harbor's records are in it; the doctor was added by Harbor's
    // clinician and so receives them (never the psychotherapy note; Ada has none).
    await tx.insert(caseParticipants).values({ caseId: adaCase!.id, agencyId: mh.agencyId, joinedBy: mh.createdBy });
    await tx.insert(caseMembers).values([
      { caseId: adaCase!.id, userId: us['clinician@harbor-mh']!, addedBy: mh.createdBy },
      { caseId: adaCase!.id, userId: us['doctor@city-hospital']!, addedBy: mh.createdBy },
    ]);
    return true;
  });
}
