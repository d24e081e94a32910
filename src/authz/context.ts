import type { SensitiveCategory, Tier } from './vocabulary.js';

/** The facts about one person that the policy needs for this principal, read in the request's transaction. */
export interface SubjectContext {
  subjectId: string;
  /**
   * Active, unrevoked consents valid now that name the principal's agency or agency kind, with
   * their disclosers: the agency that recorded the consent, the only one whose entries it releases.
   */
  consents: { id: string; disclosers: string[]; tiers: Tier[]; sensitiveCategories: SensitiveCategory[] }[];
  /**
   * Open cases for the person of which the principal is a current member, each with the agencies
   * whose entries it releases to this member: participants that joined after the member was on
   * the team or whose own users added the member (SPEC principle 8).
   */
  openCases: { id: string; releasedBy: string[] }[];
  /** Unexpired break-glass grants of this principal for the person. */
  breakGlass: { id: string; tier: Tier }[];
}

/** The SQL expressions a context is read for: the person, the user, their agency and its kind, and now. */
export interface ContextRefs {
  subject: string;
  user: string;
  agency: string;
  kind: string;
  now: string;
}

/**
 * The context as three JSON columns of one statement, over `refs`: SQL expressions, parameters
 * or the columns of a row the statement names (none of the aliases used here: c, k, m, adder, p,
 * g). The subqueries use no column of the row that embeds them but those, so PostgreSQL runs each
 * once per statement. The statement that embeds them owns its parameters (see
 * modules/subjects/record-context.ts).
 *
 * A case yields one element per releasing participant; a case with no participant releasing to
 * this member yields none and so grants nothing. "Before the agency joined" is the team's order
 * (`caseTeamOrder`), or for rows older than it the timestamps, strictly: a tie releases nothing.
 */
export const contextColumns = ({ subject, user, agency, kind, now }: ContextRefs) => `
  (SELECT coalesce(json_agg(json_build_object('id', c.id, 'discloser', c.agency_id, 'tiers', c.tiers, 'sensitiveCategories', c.sensitive_categories)
                            ORDER BY c.created_at, c.id), '[]')
     FROM consents c
    WHERE c.subject_id = ${subject} AND c.revoked_at IS NULL AND c.valid_from <= ${now}
      AND (c.valid_until IS NULL OR c.valid_until > ${now})
      AND (c.recipient_agency_ids @> ARRAY[${agency}] OR c.recipient_kinds @> ARRAY[${kind}])) AS "contextConsents",
  (SELECT coalesce(json_agg(json_build_object('id', k.id, 'agencyId', p.agency_id) ORDER BY k.created_at, k.id, p.agency_id), '[]')
     FROM cases k
     JOIN case_members m ON m.case_id = k.id AND m.user_id = ${user} AND m.removed_at IS NULL
     JOIN users adder ON adder.id = m.added_by
     JOIN case_participants p ON p.case_id = k.id
          AND (p.agency_id = adder.agency_id
               OR CASE WHEN m.team_order IS NULL OR p.team_order IS NULL THEN m.added_at < p.joined_at ELSE m.team_order < p.team_order END)
    WHERE k.subject_id = ${subject} AND k.status = 'open') AS "contextCases",
  (SELECT coalesce(json_agg(json_build_object('id', g.id, 'tier', g.tier) ORDER BY g.created_at, g.id), '[]')
     FROM break_glass_grants g
    WHERE g.subject_id = ${subject} AND g.user_id = ${user} AND g.expires_at > ${now}) AS "contextBreakGlass"`;

/** What `contextColumns` add to a row. */
export interface ContextColumns {
  contextConsents: { id: string; discloser: string; tiers: Tier[]; sensitiveCategories: SensitiveCategory[] }[];
  contextCases: { id: string; agencyId: string }[];
  contextBreakGlass: { id: string; tier: Tier }[];
}

export function contextFromColumns(subjectId: string, row: ContextColumns): SubjectContext {
  const openCases = new Map<string, string[]>();
  for (const r of row.contextCases) openCases.set(r.id, [...(openCases.get(r.id) ?? []), r.agencyId]);
  return {
    subjectId,
    consents: row.contextConsents.map((r) => ({ id: r.id, disclosers: [r.discloser], tiers: r.tiers, sensitiveCategories: r.sensitiveCategories })),
    openCases: [...openCases].map(([id, releasedBy]) => ({ id, releasedBy: releasedBy.sort() })),
    breakGlass: row.contextBreakGlass,
  };
}
