// Birth dates as re-typing gets them wrong (Splink's DateOfBirthComparison: a one-character slip
// in the date string; and, as forms from other agencies have it, day and month swapped, or the
// year off by one).

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** The date if it is a real calendar date written YYYY-MM-DD, else null. */
export function parseBirthDate(value: string): { year: number; month: number; day: number } | null {
  const m = ISO_DATE.exec(value.trim());
  if (!m) return null;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const d = new Date(Date.UTC(year, month - 1, day));
  if (d.getUTCFullYear() !== year || d.getUTCMonth() !== month - 1 || d.getUTCDate() !== day) return null;
  return { year, month, day };
}

const pad = (n: number, width: number) => String(n).padStart(width, '0');
const iso = (year: number, month: number, day: number) => `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}`;
const digitsOf = (date: string) => date.replaceAll('-', '');
const fromDigits = (d: string) => `${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}`;

/** a and b (both valid) differ by day and month trading places. */
export function isDayMonthSwap(a: string, b: string): boolean {
  const x = parseBirthDate(a);
  const y = parseBirthDate(b);
  return !!x && !!y && x.day !== x.month && x.year === y.year && x.month === y.day && x.day === y.month;
}

/** Same day and month, the year one apart. */
export function isYearOffByOne(a: string, b: string): boolean {
  const x = parseBirthDate(a);
  const y = parseBirthDate(b);
  return !!x && !!y && x.month === y.month && x.day === y.day && Math.abs(x.year - y.year) === 1;
}

/** The eight digits differ in one place, or two neighbouring digits trade places. */
export function isOneDigitOff(a: string, b: string): boolean {
  const x = digitsOf(a);
  const y = digitsOf(b);
  if (x.length !== 8 || y.length !== 8 || x === y) return false;
  const diff = [...x].flatMap((c, i) => (c === y[i] ? [] : [i]));
  if (diff.length === 1) return true;
  const [i, j] = diff;
  return diff.length === 2 && j === i! + 1 && x[i!] === y[j] && x[j] === y[i!];
}

/**
 * Every birth date the matcher scores as agreeing or near to `birthDate`: itself, day and month
 * swapped, the year one either side, one digit replaced, two neighbouring digits swapped; only
 * real calendar dates, sorted, without repeats. For SQL blocking: `birth_date = ANY($1::date[])`.
 * An invalid date has no variants (and matches nothing).
 */
export function birthDateVariants(birthDate: string): string[] {
  const date = parseBirthDate(birthDate);
  if (!date) return [];
  const { year, month, day } = date;
  const out = new Set<string>([iso(year, month, day), iso(year, day, month), iso(year - 1, month, day), iso(year + 1, month, day)]);
  const digits = digitsOf(iso(year, month, day));
  for (let i = 0; i < 8; i++) {
    for (let d = 0; d <= 9; d++) out.add(fromDigits(digits.slice(0, i) + String(d) + digits.slice(i + 1)));
    if (i < 7) out.add(fromDigits(digits.slice(0, i) + digits[i + 1] + digits[i] + digits.slice(i + 2)));
  }
  return [...out].filter((v) => parseBirthDate(v) !== null).sort();
}
