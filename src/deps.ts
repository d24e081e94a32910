import type { Logger } from 'pino';
import type { AuditReads } from './audit/audit-reads.js';
import type { AuditedRunner } from './audit/audited.js';
import type { KeyStore } from './auth/keys.js';
import type { TokenService } from './auth/tokens.js';
import type { DecisionPoint } from './authz/decide.js';
import type { Config } from './config/index.js';
import type { Db } from './db/client.js';
import type { Metrics } from './metrics/metrics.js';

/**
 * What routers and console pages are built from: made once by buildDeps (app.ts), passed down.
 * Its own file, so that app.ts imports the routers and none of them imports app.ts back.
 */
export interface AppDeps {
  config: Config;
  db: Db;
  logger: Logger;
  keys: KeyStore;
  tokens: TokenService;
  runner: AuditedRunner;
  pdp: DecisionPoint;
  metrics: Metrics;
  /** Audit searches, accountings and exports: on the primary, or on the audit replica. */
  auditReads: AuditReads;
  /** Set by src/main.ts: while `draining`, readiness answers 503. */
  lifecycle?: { readonly draining: boolean };
}
