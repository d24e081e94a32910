import type { AgencyKind } from './vocabulary.js';

// 42 CFR 2.32 (as amended by the final rule of 16 February 2024, 89 FR 12472): each disclosure
// of a Part 2 record made with the patient's written consent is accompanied by one of two
// statements. Fixed regulatory text, so it lives in code, not in policies/.

export const REDISCLOSURE_NOTICE = '42-cfr-2.32';

/** 2.32(a)(1), Statement 1: names the bar on use in proceedings against the patient. */
const STATEMENT_1 =
  'This record which has been disclosed to you is protected by Federal confidentiality rules (42 CFR part 2). ' +
  'These rules prohibit you from using or disclosing this record, or testimony that describes the information contained in this record, ' +
  'in any civil, criminal, administrative, or legislative proceedings by any Federal, State, or local authority, against the patient, ' +
  'unless authorized by the consent of the patient, except as provided at 42 CFR 2.12(c)(5) or as authorized by a court in accordance with 42 CFR 2.64 or 2.65. ' +
  'In addition, the Federal rules prohibit you from making any other use or disclosure of this record unless at least one of the following applies: ' +
  '(i) Further use or disclosure is expressly permitted by the written consent of the individual whose information is being disclosed in this record ' +
  'or as otherwise permitted by 42 CFR part 2. ' +
  '(ii) You are a covered entity or business associate and have received the record for treatment, payment, or health care operations, or ' +
  '(iii) You have received the record from a covered entity or business associate as permitted by 45 CFR part 164, subparts A and E. ' +
  'A general authorization for the release of medical or other information is NOT sufficient to meet the required elements of written consent ' +
  'to further use or redisclose the record (see 42 CFR 2.31).';

/** 2.32(a)(2), Statement 2: the concise notice. */
const STATEMENT_2 = '42 CFR part 2 prohibits unauthorized use or disclosure of these records.';

export interface Notice {
  code: typeof REDISCLOSURE_NOTICE;
  /** Which statement of 2.32(a) the text is. */
  statement: 1 | 2;
  text: string;
}

/**
 * The notice for a recipient of this kind. Police (and any recipient that is not a health-care
 * partner) get Statement 1, whose words on use against the patient are the ones that matter to
 * law enforcement; health-care partners get Statement 2.
 */
export function redisclosureNotice(recipientKind: AgencyKind | string | null | undefined, statement?: 1 | 2): Notice {
  const s = statement ?? (recipientKind === 'mental_health' || recipientKind === 'hospital' ? 2 : 1);
  return { code: REDISCLOSURE_NOTICE, statement: s, text: s === 1 ? STATEMENT_1 : STATEMENT_2 };
}

/** The notices a response carries: 2.32 when it carries a substance-use entry of another agency. */
export function redisclosureNotices(recipient: { agencyId: string; agencyKind: AgencyKind }, carried: { sensitivity: string[]; agencyId: string }[]): Notice[] {
  const partTwo = carried.some((e) => e.sensitivity.includes('substance-use') && e.agencyId !== recipient.agencyId);
  return partTwo ? [redisclosureNotice(recipient.agencyKind)] : [];
}
