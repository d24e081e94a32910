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
  /** How the user authenticated (RFC 8176 values from the token): `mfa` when a second factor was used. */
  amr: string[];
  /** The machine client that holds the token, acting alone or for this user. */
  clientId?: string;
  /**
   * When a machine client acts for this user (`on_behalf_of`), the client's own role: the
   * principal's ceiling is then the lower of the two roles' ceilings (SPEC principle 10).
   */
  clientRole?: string;
}
