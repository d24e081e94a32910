import { BadRequest } from '../../errors/problems.js';
import { ACCOUNTING_YEARS, type Disclosure } from './accounting.js';
import { toCsv } from './csv.js';
import { disclosuresBundle } from './fhir.js';

// The accounting of disclosures as the API and the command line hand it over: the period rule
// and the three formats (JSON, CSV, FHIR R4 Bundle).

export const DISCLOSURE_FORMATS = ['json', 'csv', 'fhir'] as const;
export type DisclosureFormat = (typeof DISCLOSURE_FORMATS)[number];

const yearsBefore = (d: Date, years: number) => {
  const x = new Date(d);
  x.setUTCFullYear(x.getUTCFullYear() - years);
  return x;
};

/**
 * The accounting period: `from` defaults to six years ago, `to` to now; `from` before `to`, and
 * no earlier than the start of the day six years ago (the rule's reach, with a day's slack for
 * a client that computed "six years ago" a moment before we did). Throws BadRequest.
 */
export function accountingPeriod(fromIso: string | undefined, toIso: string | undefined, now = new Date()): { from: Date; to: Date } {
  const earliest = yearsBefore(now, ACCOUNTING_YEARS);
  earliest.setUTCHours(0, 0, 0, 0);
  const from = fromIso ? new Date(fromIso) : yearsBefore(now, ACCOUNTING_YEARS);
  const to = toIso ? new Date(toIso) : now;
  if (from < earliest) throw new BadRequest(`An accounting reaches back at most ${ACCOUNTING_YEARS} years (45 CFR 164.528(a)(3)); \`from\` is earlier.`);
  if (from >= to) throw new BadRequest('`from` must be before `to`.');
  return { from, to };
}

function present(d: Disclosure) {
  return {
    at: d.at,
    recipient: d.recipient,
    tier: d.tier,
    kinds: d.kinds,
    purpose: d.purpose,
    basis: d.basis,
    breakGlass: d.breakGlass,
    action: d.action,
    disclosedBy: d.disclosedBy,
    eventId: d.eventId,
    ...(d.notices.length ? { notices: d.notices } : {}),
  };
}

const CSV_COLUMNS = [
  'at',
  'recipient_user',
  'recipient_agency',
  'recipient_role',
  'recipient_client',
  'action',
  'tier',
  'kinds',
  'purpose',
  'basis',
  'break_glass',
  'disclosed_by',
  'event_id',
];
const csvRow = (d: Disclosure) => [
  d.at,
  d.recipient.user,
  d.recipient.agency,
  d.recipient.role,
  d.recipient.client,
  d.action,
  d.tier,
  d.kinds.join(' '),
  d.purpose,
  d.basis,
  d.breakGlass,
  d.disclosedBy.join(' '),
  d.eventId,
];

/** The accounting rendered in `format`, with its media type. */
export function renderAccounting(
  format: DisclosureFormat,
  subjectId: string,
  period: { from: Date; to: Date },
  disclosures: Disclosure[],
  purposeOfUse: Record<string, string>,
  /** Added to the JSON answer (the freshness of a replica read). */
  extra: Record<string, unknown> = {},
): { contentType: string; body: string } {
  if (format === 'csv') return { contentType: 'text/csv', body: toCsv(CSV_COLUMNS, disclosures.map(csvRow)) };
  if (format === 'fhir') return { contentType: 'application/fhir+json', body: JSON.stringify(disclosuresBundle(subjectId, disclosures, purposeOfUse)) };
  return {
    contentType: 'application/json',
    body: JSON.stringify({ subject: subjectId, from: period.from, to: period.to, disclosures: disclosures.map(present), ...extra }),
  };
}
