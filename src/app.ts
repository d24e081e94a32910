import { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import express, { type Express } from 'express';
import helmet from 'helmet';
import passport from 'passport';
import { BearerStrategy, requirePrincipal, verifyBearer } from './auth/bearer-strategy.js';
import type { AppDeps } from './deps.js';
import { consoleRouter } from './console/index.js';
import { errorHandler, notFoundRoute } from './errors/handler.js';
import { openApiRoute } from './http/openapi.js';
import { mountRoutes } from './http/route.js';
import { requestContext } from './http/request-context.js';
import { adminRoutes } from './modules/admin/routes.js';
import { auditRoutes } from './modules/audit/routes.js';
import { breakGlassRoutes } from './modules/break-glass/routes.js';
import { casesRoutes } from './modules/cases/routes.js';
import { consentsRoutes } from './modules/consents/routes.js';
import { healthRouter } from './modules/health/routes.js';
import { oauthRouter } from './modules/oauth/routes.js';
import { subjectsRoutes } from './modules/subjects/routes.js';
import { captureRoutePattern, routeOf } from './metrics/route.js';

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

  // /v1: every route declared once (src/http/route.ts), which records its operation in `routes`.
  const routes = new OpenAPIRegistry();
  const v1 = express.Router();
  v1.use(express.json({ limit: deps.config.BODY_LIMIT, strict: true }));
  // The token's claims first (no database); then, per route, its principal step: the record
  // read's own (the principal and the record's policy context in one statement), for every other
  // route the principal alone. The person routes go first: their HEAD refusal covers consents
  // and break-glass too.
  v1.use(verifyBearer(authenticator, deps.runner));
  const principal = requirePrincipal(deps.db, deps.runner);
  mountRoutes(v1, { pdp: deps.pdp, principal }, routes, [
    subjectsRoutes(deps),
    breakGlassRoutes(deps),
    consentsRoutes(deps),
    casesRoutes(deps),
    auditRoutes(deps),
    adminRoutes(deps),
  ]);
  // A /v1 path no route takes is still answered for a current principal only (401 before 404), as
  // when the principal step ran for all of /v1.
  v1.use(principal);

  app.use(healthRouter(deps));
  app.get('/openapi.json', openApiRoute(deps.config, routes));
  app.use('/oauth', oauthRouter(deps));
  app.use('/v1', v1);

  app.use(consoleRouter(deps));
  app.use(notFoundRoute);
  app.use(errorHandler(deps.logger, deps.config.RETRY_AFTER_SECONDS));
  return app;
}
