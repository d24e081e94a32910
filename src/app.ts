import express, { type Express } from 'express';
import helmet from 'helmet';
import passport from 'passport';
import type { Logger } from 'pino';
import type { Config } from './config/index.js';
import type { Db } from './db/client.js';
import { AuditedRunner } from './audit/audited.js';
import { BearerStrategy, requirePrincipal, verifyBearer } from './auth/bearer-strategy.js';
import type { KeyStore } from './auth/keys.js';
import { TokenService } from './auth/tokens.js';
import { DecisionPoint } from './authz/decide.js';
import type { Policy } from './authz/policy.js';
import { consoleRouter } from './console/index.js';
import { errorHandler, notFoundRoute } from './errors/handler.js';
import { openApiRoute } from './http/openapi.js';
import { requestContext } from './http/request-context.js';
import { adminRouter } from './modules/admin/routes.js';
import { auditRouter } from './modules/audit/routes.js';
import { breakGlassRouter } from './modules/break-glass/routes.js';
import { casesRouter } from './modules/cases/routes.js';
import { consentsRouter } from './modules/consents/routes.js';
import { healthRouter } from './modules/health/routes.js';
import { oauthRouter } from './modules/oauth/routes.js';
import { subjectRecordRouter, subjectsRouter } from './modules/subjects/routes.js';
import { createMetrics } from './metrics/metrics.js';
import { AuditReads } from './audit/audit-reads.js';
import type { AppDeps } from './deps.js';
import { captureRoutePattern, routeOf } from './metrics/route.js';

// The routers' and pages' dependencies live in deps.ts so that they need not import this file back.
export type { AppDeps } from './deps.js';

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

/** helmet → request context → routers, each with its own parser (on /v1: the bearer token's claims, then each route's principal step) → one error exit. */
export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  // Every answer but a static asset is no-store, so a validator would never be used: no body hash
  // per response (static assets keep theirs, from express.static).
  app.set('etag', false);
  app.set('query parser', 'simple');
  app.set('trust proxy', deps.config.TRUST_PROXY);
  app.use(helmet());
  app.use(requestContext);
  app.use(captureRoutePattern);
  app.use((req, res, next) => {
    res.set('Cache-Control', 'no-store');
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const route = routeOf(req);
      deps.metrics.observeRequest(route, req.method, res.statusCode, ms / 1000);
      deps.logger.info({ requestId: req.id, method: req.method, route, status: res.statusCode, ms }, 'request');
    });
    next();
  });
  // An authenticator per app, so that two apps in one process never share strategies.
  const authenticator = new passport.Passport();
  authenticator.use(new BearerStrategy(deps.tokens, deps.keys));
  // No `initialize()`: nothing uses passport's sessions or req.login, and verifyBearer takes the
  // strategy's result through its callback.

  app.use(healthRouter(deps));
  app.get('/openapi.json', openApiRoute(deps));
  app.use('/oauth', oauthRouter(deps));

  const v1 = express.Router();
  v1.use(express.json({ limit: deps.config.BODY_LIMIT, strict: true }));
  // The token's claims first (no database); then each route's principal step: the record read's
  // own (the principal and the record's policy context in one statement), and for every other
  // route the principal alone.
  v1.use(verifyBearer(authenticator, deps.runner));
  v1.use('/subjects', subjectRecordRouter(deps));
  v1.use(requirePrincipal(deps.db, deps.runner));
  v1.use('/subjects', subjectsRouter(deps), breakGlassRouter(deps));
  v1.use(consentsRouter(deps));
  v1.use('/cases', casesRouter(deps));
  v1.use('/audit', auditRouter(deps));
  v1.use('/admin', adminRouter(deps));
  app.use('/v1', v1);

  app.use(consoleRouter(deps));
  app.use(notFoundRoute);
  app.use(errorHandler(deps.logger, deps.config.RETRY_AFTER_SECONDS));
  return app;
}
