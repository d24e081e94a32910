import type { Basis } from '../audit/vocabulary.js';
import type { BasisFacts } from '../modules/subjects/access-basis.js';

// Plain-language wording shared by the pages. Instants (a flag's creation, a grant's end) are shown
// in the deployment's time zone (CONSOLE_TIME_ZONE, set once by the console router) with the zone
// named; dates of birth are calendar dates and are shown as written. Always with the year: a flag
// "of 3 February" leaves a tired reader to guess which February.
let zone = 'UTC';
let DAY_IN_ZONE = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'long', year: 'numeric', timeZone: zone });
let STAMP = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'long', year: 'numeric', hour: '2-digit', minute: '2-digit', timeZone: zone });
let ZONE_NAME = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short', timeZone: zone });
const CALENDAR = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'long', year: 'numeric', timeZone: 'UTC' });

/** The zone the console shows times in (one per deployment: the router sets it from the config). */
export function useTimeZone(timeZone: string): void {
  zone = timeZone;
  DAY_IN_ZONE = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'long', year: 'numeric', timeZone });
  STAMP = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'long', year: 'numeric', hour: '2-digit', minute: '2-digit', timeZone });
  ZONE_NAME = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short', timeZone });
}
export const timeZone = () => zone;

/** A calendar date ("1985-02-03", or the date part of an instant kept as UTC midnight): "3 February 1985". */
export const date = (d: Date | string) => CALENDAR.format(new Date(typeof d === 'string' && d.length === 10 ? `${d}T00:00:00Z` : d));
/** The day of an instant in the deployment's zone: "3 February 2026". */
export const day = (d: Date | string) => DAY_IN_ZONE.format(new Date(d));
/** An instant in the deployment's zone, with the zone: "3 February 2026, 21:50 EST". */
export const stamp = (d: Date | string) => {
  const at = new Date(d);
  const name = ZONE_NAME.formatToParts(at).find((p) => p.type === 'timeZoneName')?.value ?? zone;
  return `${STAMP.format(at)} ${name}`;
};
/** Who a page acts on, as a heading's caption says it: "Ada Lovelace, born 3 February 1985". */
export const personWords = (p: { givenName: string; familyName: string; birthDate: string }) => `${p.givenName} ${p.familyName}, born ${date(p.birthDate)}`;
export const tierName = (t: string) => t[0]!.toUpperCase() + t.slice(1);
export const humanize = (code: string) => code.replaceAll(/[-_]/g, ' ');
export const minutesLeft = (until: Date | string, now = Date.now()) => Math.max(0, Math.ceil((new Date(until).getTime() - now) / 60_000));

export const SEVERITY_ORDER: Record<string, number> = { high: 0, medium: 1, low: 2 };
export const SEVERITY_WORDS: Record<string, string> = { high: 'High risk', medium: 'Medium risk', low: 'Low risk' };

/** Why a tier was granted, for the rules that need no facts to say it. */
const RULE_WORDS: Record<string, string> = {
  'own-contribution': 'because your agency contributed these records',
  author: 'because you wrote these records',
};

/** "Intermediate, by consent of 12 May from Harbor MH, valid until 30 June" — one line per basis of the granted tier. */
export function basisWords(tier: string, basis: Basis[], facts: BasisFacts): string[] {
  const ofTier = basis.filter((b) => b.tier === tier);
  const lines = ofTier.map((b) => {
    if (b.rule === 'consent' && b.consentId) {
      const c = facts.consents.get(b.consentId);
      if (!c) return 'by the person’s consent';
      return `by consent of ${day(c.recordedAt)} from ${c.discloser}, ${c.validUntil ? `valid until ${day(c.validUntil)}` : 'with no end date'}`;
    }
    if (b.rule === 'open-case-member' && b.caseId) {
      const c = facts.cases.get(b.caseId);
      return c ? `as a member of the open case “${c.title}” (opened ${day(c.openedAt)})` : 'as a member of an open case';
    }
    if (b.rule === 'break-glass' && b.breakGlassId) {
      const g = facts.breakGlass.get(b.breakGlassId);
      return g ? `by your emergency access (break glass), ${minutesLeft(g.expiresAt)} minutes left, until ${stamp(g.expiresAt)}` : 'by emergency access';
    }
    if (b.rule === 'partner-read') return 'as a partner agency with a read right (basic facts only)';
    return RULE_WORDS[b.rule] ?? `under the rule “${humanize(b.rule)}”`;
  });
  return lines.length ? lines.map((l) => `${tierName(tier)}, ${l}`) : [tierName(tier)];
}
