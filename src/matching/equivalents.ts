// Given-name equivalents for blocking: the SQL side looks for any of these name keys.
import { equivalentKeys } from './nicknames.js';
import { nameKey } from './normalize.js';
import { defaultMatchingPolicy, type MatchPolicy } from './policy.js';

/**
 * The nameKey of `name` and of every given name the short-name table relates to it (Bill ->
 * bill, william, billy, will, …; and robert, since Bill is a short form of Robert too). The
 * name's own key comes first; '' (nothing to compare) gives [].
 */
export function givenNameEquivalents(name: string, policy: MatchPolicy = defaultMatchingPolicy()): string[] {
  const key = nameKey(name);
  return key ? equivalentKeys(key, policy.shortNameTable) : [];
}
