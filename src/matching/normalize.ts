// How names and identifiers are folded before they are compared (the CMS patient-matching
// "fold case, accents, punctuation and spaces" rule, as Medplum's foldString applies it).

// Letters that NFD does not decompose but PostgreSQL's unaccent rewrites; folded the same way so
// that nameKey and the SQL expression below agree (both then lower-case them).
const UNACCENT_EXTRAS: Record<string, string> = {
  ß: 'ss',
  æ: 'ae',
  œ: 'oe',
  ø: 'o',
  ł: 'l',
  đ: 'd',
  ð: 'd',
  þ: 'th',
  ı: 'i',
  ħ: 'h',
  ŧ: 't',
};
const EXTRAS = new RegExp(`[${Object.keys(UNACCENT_EXTRAS).join('')}]`, 'gu');

/**
 * The normalised form of a name: lower case, accents removed (NFD, then every combining mark
 * dropped, plus the letters listed in UNACCENT_EXTRAS), then everything that is not a-z or 0-9
 * removed (spaces, hyphens, apostrophes, dots; letters of other scripts too, so a name written
 * only in another script folds to '' and compares as missing).
 *   "  O'Brien-Núñez " -> "obriennunez",  "Æsa" -> "aesa",  "Jean Luc" -> "jeanluc"
 * SQL mirrors it as: regexp_replace(lower(unaccent(name)), '[^a-z0-9]+', '', 'g')
 * (unaccent's default rules cover the same Latin letters; lower() after unaccent gives the same
 * result as lower-casing first, for these letters).
 */
export function nameKey(name: string): string {
  return name
    .toLowerCase()
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .replace(EXTRAS, (c) => UNACCENT_EXTRAS[c] ?? c)
    .replace(/[^a-z0-9]+/g, '');
}

/** Identifier values compare folded the same way: "P-20931" and "p 20931" are one number. */
export const identifierKey = nameKey;

/** Sex as the matcher compares it: 'unknown', empty or absent is missing, not a disagreement. */
export function sexKey(sex: string | null | undefined): string | null {
  const s = (sex ?? '').trim().toLowerCase();
  return s === '' || s === 'unknown' ? null : s;
}
