import type { AgencyKind } from '../authz/vocabulary.js';

/** Who is asking: resolved from a verified token and the current user and agency rows. */
export interface Principal {
  userId: string;
  username: string;
  agencyId: string;
  agency: string;
  agencyKind: AgencyKind;
  role: string;
  jti: string;
  /** The machine client that holds the token, acting alone or for this user. */
  clientId?: string;
}
