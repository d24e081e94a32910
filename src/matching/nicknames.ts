// The short-name table (policies/short-names.yaml, from carltonnorthern/nicknames): which given
// names are short forms of which, as HAPI FHIR's MDM NICKNAME matcher uses such a table.
import { z } from 'zod';
import { nameKey } from './normalize.js';

export const shortNamesFileSchema = z.record(z.string().min(1), z.array(z.string().min(1)).nonempty());

export interface ShortNames {
  /** nameKey of a full name -> nameKeys of its short forms */
  readonly shortForms: ReadonlyMap<string, ReadonlySet<string>>;
  /** nameKey of a short form -> nameKeys of the full names it shortens */
  readonly fullNames: ReadonlyMap<string, ReadonlySet<string>>;
}

export function indexShortNames(table: z.infer<typeof shortNamesFileSchema>): ShortNames {
  const shortForms = new Map<string, Set<string>>();
  const fullNames = new Map<string, Set<string>>();
  const add = (m: Map<string, Set<string>>, k: string, v: string) => (m.get(k) ?? m.set(k, new Set()).get(k)!).add(v);
  for (const [full, shorts] of Object.entries(table)) {
    const f = nameKey(full);
    for (const s of shorts.map(nameKey)) {
      if (!f || !s || s === f) continue;
      add(shortForms, f, s);
      add(fullNames, s, f);
    }
  }
  return { shortForms, fullNames };
}

export type ShortNameRelation = { kind: 'shortForm'; short: 'a' | 'b' } | { kind: 'sameFullName' } | null;

/**
 * How two given-name keys relate in the table: one is a short form of the other (Bill, William),
 * or both are short forms of one full name (Bill, Will). Two full names that merely share a short
 * form (Christopher and Christian, both Chris) are not related: they are different names.
 */
export function shortNameRelation(a: string, b: string, table: ShortNames): ShortNameRelation {
  if (!a || !b || a === b) return null;
  if (table.shortForms.get(b)?.has(a)) return { kind: 'shortForm', short: 'a' };
  if (table.shortForms.get(a)?.has(b)) return { kind: 'shortForm', short: 'b' };
  const fullsOfA = table.fullNames.get(a);
  const fullsOfB = table.fullNames.get(b);
  if (fullsOfA && fullsOfB && [...fullsOfA].some((f) => fullsOfB.has(f))) return { kind: 'sameFullName' };
  return null;
}

/** Every nameKey related to `key` by shortNameRelation, itself first. */
export function equivalentKeys(key: string, table: ShortNames): string[] {
  const out = new Set<string>([key]);
  for (const s of table.shortForms.get(key) ?? []) out.add(s);
  for (const f of table.fullNames.get(key) ?? []) {
    out.add(f);
    for (const sibling of table.shortForms.get(f) ?? []) out.add(sibling);
  }
  return [...out].filter(Boolean);
}
