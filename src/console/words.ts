import type { Basis } from '../audit/vocabulary.js';
import type { BasisFacts } from '../modules/subjects/access-basis.js';

// Plain-language wording shared by the pages. Dates are shown in UTC, as the log keeps them.
const DAY = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'long', timeZone: 'UTC' });
const DAY_YEAR = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'long', year: 'numeric', timeZone: 'UTC' });
const STAMP = new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' });

export const day = (d: Date | string) => {
  const date = new Date(d);
  return date.getUTCFullYear() === new Date().getUTCFullYear() ? DAY.format(date) : DAY_YEAR.format(date);
};
export const stamp = (d: Date | string) => `${STAMP.format(new Date(d))} UTC`;
export const tierName = (t: string) => t[0]!.toUpperCase() + t.slice(1);
export const humanize = (code: string) => code.replaceAll(/[-_]/g, ' ');
export const minutesLeft = (until: Date | string, now = Date.now()) => Math.max(0, Math.ceil((new Date(until).getTime() - now) / 60_000));

export const SEVERITY_ORDER: Record<string, number> = { high: 0, medium: 1, low: 2 };
export const SEVERITY_WORDS: Record<string, string> = { high: 'High risk', medium: 'Medium risk', low: 'Low risk' };

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
    return `by the rule ${humanize(b.rule)}`;
  });
  return lines.length ? lines.map((l) => `${tierName(tier)}, ${l}`) : [tierName(tier)];
}
