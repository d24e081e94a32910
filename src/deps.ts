import type { Logger } from 'pino';
import { AuditedRunner } from './audit/audited.js';
import { AuditReads } from './audit/audit-reads.js';
import type { KeyStore } from './auth/keys.js';
import { TokenService } from './auth/tokens.js';
import { DecisionPoint } from './authz/decide.js';
import type { Policy } from './authz/policy.js';
import type { Config } from './config/index.js';
import type { Db } from './db/client.js';
import { createMetrics, type Metrics } from './metrics/metrics.js';

// The services that routes and console pages share, built once per app. Routers and pages import
// the type from here, and app.ts (which imports every router) only wires: no import circle.

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

/**
 * Wires the services that routes share; the keys must already be loaded. `auditDb` is a read-only
 * replica for audit reads (AUDIT_DATABASE_URL); without it they run on `db`.
 */
export function buildDeps(config: Config, db: Db, logger: Logger, keys: KeyStore, policy: Policy, options: { auditDb?: Db } = {}): AppDeps {
  const runner = new AuditedRunner(db, logger);
  const metrics = createMetrics(db, { primary: db, audit: options.auditDb });
  const auditReads = new AuditReads(runner, logger, options.auditDb);
  return {
    config,
    db,
    logger,
    keys,
    tokens: new TokenService(keys, config),
    runner,
    pdp: new DecisionPoint(policy, runner, { approverNeedsSecondFactor: !config.demoMode }),
    metrics,
    auditReads,
  };
}
