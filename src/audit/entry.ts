import type { Principal } from '../auth/principal.js';
import type { AuditAction, Basis, Decision } from './vocabulary.js';

/** One access-log entry as the gateway writes it (append.ts) and its observers see it (observers.ts). */
export interface AuditEntry {
  requestId: string;
  actor?: Principal;
  subjectId?: string | null;
  action: AuditAction;
  decision: Decision;
  tier?: string | null;
  basis?: Basis[];
  breakGlass?: boolean;
  /** A rule name or short machine reason; never free text from the request. */
  reason?: string | null;
  /** Ids and counts only (matched subject ids, created ids, consent ids). */
  detail?: Record<string, unknown>;
}
