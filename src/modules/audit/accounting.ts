import { and, asc, eq, gte, inArray, lt, or, sql } from 'drizzle-orm';
import { AUDIT_ACTIONS as A, type Basis } from '../../audit/vocabulary.js';
import { redisclosureNotice, type Notice } from '../../authz/notices.js';
import type { DisclosurePolicy } from '../../authz/policy.js';
import { AGENCY_KINDS, TIERS, type AgencyKind, type Tier } from '../../authz/vocabulary.js';
import type { Executor } from '../../db/client.js';
import { accessLog, agencies, clinicalEntries, consents, riskFlags, subjects } from '../../db/schema/index.js';

// The accounting of disclosures (45 CFR 164.528), read from the access log under the policy's
// `disclosures` section. The rules are explained in docs/disclosures.md.

/** 164.528(a)(3): an accounting reaches back six years at most. */
export const ACCOUNTING_YEARS = 6;

export interface Disclosure {
  /** The access-log entry the disclosure is read from. */
  eventId: string;
  at: Date;
  action: string;
  recipient: { user: string | null; userId: string | null; agency: string | null; agencyKind: AgencyKind | null; role: string | null; client: string | null };
  tier: string | null;
  /** What was disclosed, by category: demographics, risk-flags, consents and the entry kinds. */
  kinds: string[];
  purpose: string;
  basis: Basis[];
  breakGlass: boolean;
  /** The agencies whose contributions went out (the recipient's own are not counted). */
  disclosedBy: string[];
  /** The redisclosure notices that went with it (42 CFR 2.32 for another agency's Part 2 record). */
  notices: Notice[];
}

type LogRow = typeof accessLog.$inferSelect;
interface LoggedDetail {
  entries?: { id: string; kind: string }[];
  consents?: string[];
  notices?: { code: string; statement: 1 | 2 }[];
}
/** Who contributed which part of the person's record. */
interface Contributions {
  subjectAgency: string;
  entryAgency: Map<string, string>;
  /** A consent's discloser: what a consent listing disclosed is the disclosers' release. */
  consentAgency: Map<string, string>;
  flags: { agency: string; createdAt: Date }[];
}

/** The person's disclosures in [from, to), oldest first (by time, then log order); undefined for an unknown person. */
export async function accountDisclosures(db: Executor, policy: DisclosurePolicy, subjectId: string, from: Date, to: Date): Promise<Disclosure[] | undefined> {
  const contributions = await loadContributions(db, subjectId);
  if (!contributions) return undefined;
  const rows = await loadDisclosingAccesses(db, policy, subjectId, from, to);
  // One after another: a transaction is one connection, and pg@9 refuses overlapping queries on it.
  const kinds = await loadAgencyKinds(
    db,
    rows.map((r) => r.actorAgency),
  );
  const consentPurposes = await loadConsentPurposes(
    db,
    rows.flatMap((r) => (r.basis as Basis[]).map((b) => b.consentId)),
  );
  return rows
    .map((row) => {
      const agencyKind = (row.actorAgency && kinds.get(row.actorAgency)) || null;
      const { kinds: disclosedKinds, contributors } = disclosedParts(row, contributions);
      return {
        eventId: row.id,
        at: row.at,
        action: row.action,
        recipient: { user: row.actorUsername, userId: row.actorUserId, agency: row.actorAgency, agencyKind, role: row.actorRole, client: row.actorClient },
        tier: row.tier,
        kinds: disclosedKinds,
        purpose: purposeOf(row, agencyKind, consentPurposes, policy),
        basis: row.basis as Basis[],
        breakGlass: row.breakGlass,
        disclosedBy: [...contributors].filter((a) => a !== row.actorAgency).sort(),
        notices: ((row.detail as LoggedDetail).notices ?? []).map((n) => redisclosureNotice(agencyKind, n.statement)),
      };
    })
    .filter((d) => !isExempt(d, policy));
}

// The actions whose entries list people shown (`detail.matches`), when the policy counts them: a
// search's results, a match's candidates, and the candidates of a creation refused as a possible
// duplicate, which are a match's (counted with subject.match).
function listingActions(policy: DisclosurePolicy): string[] {
  const counted = new Set<string>(policy.count);
  return [...(counted.has(A.subjectSearch) ? [A.subjectSearch] : []), ...(counted.has(A.subjectMatch) ? [A.subjectMatch, A.subjectCreate] : [])];
}

// Allowed accesses of the counted kinds that name the person, or (a search, a match) showed them.
// Denials never count: nothing left the gateway.
function loadDisclosingAccesses(db: Executor, policy: DisclosurePolicy, subjectId: string, from: Date, to: Date): Promise<LogRow[]> {
  const listing = listingActions(policy);
  return db
    .select()
    .from(accessLog)
    .where(
      and(
        eq(accessLog.decision, 'allow'),
        gte(accessLog.at, from),
        lt(accessLog.at, to),
        or(
          and(inArray(accessLog.action, [...policy.count]), eq(accessLog.subjectId, subjectId)),
          listing.length ? and(inArray(accessLog.action, listing), sql`${accessLog.detail}->'matches' @> ${JSON.stringify([subjectId])}::jsonb`) : undefined,
        ),
      ),
    )
    .orderBy(asc(accessLog.at), asc(accessLog.seq));
}

async function loadContributions(db: Executor, subjectId: string): Promise<Contributions | undefined> {
  const [subject] = await db
    .select({ agency: agencies.slug })
    .from(subjects)
    .innerJoin(agencies, eq(agencies.id, subjects.agencyId))
    .where(eq(subjects.id, subjectId));
  if (!subject) return undefined;
  const entries = await db
    .select({ id: clinicalEntries.id, agency: agencies.slug })
    .from(clinicalEntries)
    .innerJoin(agencies, eq(agencies.id, clinicalEntries.agencyId))
    .where(eq(clinicalEntries.subjectId, subjectId));
  const flags = await db
    .select({ agency: agencies.slug, createdAt: riskFlags.createdAt })
    .from(riskFlags)
    .innerJoin(agencies, eq(agencies.id, riskFlags.agencyId))
    .where(eq(riskFlags.subjectId, subjectId));
  const consentRows = await db
    .select({ id: consents.id, agency: agencies.slug })
    .from(consents)
    .innerJoin(agencies, eq(agencies.id, consents.agencyId))
    .where(eq(consents.subjectId, subjectId));
  return {
    subjectAgency: subject.agency,
    entryAgency: new Map(entries.map((e) => [e.id, e.agency])),
    consentAgency: new Map(consentRows.map((r) => [r.id, r.agency])),
    flags,
  };
}

async function loadAgencyKinds(db: Executor, slugs: (string | null)[]): Promise<Map<string, AgencyKind>> {
  const wanted = [...new Set(slugs.filter((s): s is string => !!s))];
  if (!wanted.length) return new Map();
  const rows = await db.select({ slug: agencies.slug, kind: agencies.kind }).from(agencies).where(inArray(agencies.slug, wanted));
  return new Map(rows.filter((r) => (AGENCY_KINDS as readonly string[]).includes(r.kind)).map((r) => [r.slug, r.kind as AgencyKind]));
}

async function loadConsentPurposes(db: Executor, ids: (string | undefined)[]): Promise<Map<string, string>> {
  const wanted = [...new Set(ids.filter((s): s is string => !!s))];
  if (!wanted.length) return new Map();
  const rows = await db.select({ id: consents.id, purpose: consents.purpose }).from(consents).where(inArray(consents.id, wanted));
  return new Map(rows.map((r) => [r.id, r.purpose]));
}

// What one access disclosed and whose contributions those were. A search shows demographics;
// a read shows demographics, the risk flags that existed then and the entries it logged.
function disclosedParts(row: LogRow, c: Contributions): { kinds: string[]; contributors: Set<string> } {
  const contributors = new Set(row.action === A.consentRead ? [] : [c.subjectAgency]);
  const kinds = new Set<string>();
  const flagsThen = () => {
    kinds.add('risk-flags');
    for (const f of c.flags) if (f.createdAt <= row.at) contributors.add(f.agency);
  };
  if (row.action === A.subjectSearch || row.action === A.subjectMatch || row.action === A.subjectCreate) kinds.add('demographics');
  else if (row.action === A.riskFlagRead) flagsThen();
  else if (row.action === A.consentRead) {
    // A listing discloses the consents it showed, which are their disclosers' to account for.
    kinds.add('consents');
    for (const id of (row.detail as LoggedDetail).consents ?? []) {
      const agency = c.consentAgency.get(id);
      if (agency) contributors.add(agency);
    }
  } else if (row.action === A.subjectRead) {
    kinds.add('demographics');
    flagsThen();
    for (const e of (row.detail as LoggedDetail).entries ?? []) {
      kinds.add(e.kind);
      const agency = c.entryAgency.get(e.id);
      if (agency) contributors.add(agency);
    }
  }
  return { kinds: [...kinds], contributors };
}

// Why it was disclosed: break-glass first, else the rule that granted the highest tier (an open
// case before a consent before a partner read); a consent's basis carries its own purpose.
const RULE_ORDER = ['break-glass', 'open-case-member', 'consent', 'partner-read'];
const rank = (b: Basis) => (b.tier && (TIERS as readonly string[]).includes(b.tier) ? TIERS.indexOf(b.tier as Tier) : -1);

function purposeOf(row: LogRow, kind: AgencyKind | null, consentPurposes: Map<string, string>, policy: DisclosurePolicy): string {
  const partnerRead = (kind && policy.purposes['partner-read'][kind]) || policy.purposes['partner-read'].default;
  if (row.breakGlass) return policy.purposes['break-glass'];
  const ranked = (row.basis as Basis[])
    .filter((b) => RULE_ORDER.includes(b.rule))
    .sort((a, b) => rank(b) - rank(a) || RULE_ORDER.indexOf(a.rule) - RULE_ORDER.indexOf(b.rule));
  for (const b of ranked) {
    if (b.rule === 'break-glass' || b.rule === 'open-case-member') return policy.purposes[b.rule];
    if (b.rule === 'consent' && b.consentId && consentPurposes.has(b.consentId)) return consentPurposes.get(b.consentId)!;
    if (b.rule === 'partner-read') return partnerRead;
  }
  return partnerRead;
}

function isExempt(d: Disclosure, policy: DisclosurePolicy): boolean {
  if (d.recipient.agencyKind && policy.exemptRecipientKinds.includes(d.recipient.agencyKind)) return true;
  if (policy.exemptRecipientAgencies === 'sameAsContributor' && d.disclosedBy.length === 0) return true;
  return policy.exemptPurposes.includes(d.purpose);
}
