import express, { Router, type ErrorRequestHandler, type RequestHandler, type Response } from 'express';
import compression from 'compression';
import helmet from 'helmet';
import cookieParser from 'cookie-parser';
import { doubleCsrf } from 'csrf-csrf';
import type { AppDeps } from '../deps.js';
import { deriveSubkey } from '../auth/keys.js';
import { AUDIT_ACTIONS as A } from '../audit/vocabulary.js';
import { HttpProblem } from '../errors/problems.js';
import { errorSummary } from '../logger.js';
import { consoleContext, requireUser, type ConsoleContext } from './context.js';
import { adminPages } from './pages/admin.js';
import { authPages } from './pages/auth.js';
import { casePages } from './pages/cases.js';
import { compliancePages } from './pages/compliance.js';
import { consentPages } from './pages/consents.js';
import { peoplePages } from './pages/people.js';
import { ASSETS_DIR, USWDS_DIST } from './paths.js';
import { identify, sessions, type SessionEnd } from './session.js';
import { useTimeZone } from './words.js';

// The API's own paths never reach the console (its 404s stay problem+json).
const API_PATHS = /^\/(v1|oauth|\.well-known|openapi\.json|healthz|readyz)(\/|$)/;

/** The console's CSP: same-origin scripts only, no inline script or style, no eval, no framing. */
const consoleCsp = helmet.contentSecurityPolicy({
  useDefaults: false,
  directives: {
    defaultSrc: ["'none'"],
    scriptSrc: ["'self'"],
    styleSrc: ["'self'"],
    imgSrc: ["'self'", 'data:'],
    fontSrc: ["'self'"],
    connectSrc: ["'self'"],
    formAction: ["'self'"],
    frameAncestors: ["'none'"],
    baseUri: ["'none'"],
  },
});

/**
 * The web console at `/`: server-rendered pages that call the same services, decision point and
 * audited runner as the API. Sessions keep the bearer token server-side, sealed; every change
 * needs a signed CSRF token.
 */
export function consoleRouter(deps: AppDeps): Router {
  useTimeZone(deps.config.CONSOLE_TIME_ZONE);
  const ctx = consoleContext(deps);
  const router = Router();
  router.use((req, _res, next) => (API_PATHS.test(req.path) ? next('router') : next()));

  // Same-origin assets: USWDS's dist (CSS, JS, fonts, images) and the console's own two files.
  // The app marks every answer no-store; assets are the exception (an hour, then revalidated by ETag).
  const assetOptions = {
    index: false,
    fallthrough: false,
    setHeaders: (res: Response) => res.setHeader('Cache-Control', 'public, max-age=3600'),
  };
  // Only the static assets are compressed: pages carry CSRF tokens next to echoed input (BREACH).
  // A missing asset is the console's 404 page, under the console's CSP, without a session.
  router.use('/assets', consoleCsp, compression());
  router.use('/assets/uswds', express.static(USWDS_DIST, assetOptions));
  router.use('/assets', express.static(ASSETS_DIR, assetOptions));

  const { csrfProtection, exposeCsrf } = csrf(deps);
  router.use(
    consoleCsp,
    (_req, res, next) => {
      res.set('Cache-Control', 'no-store');
      next();
    },
    sessions(deps),
    cookieParser(),
    express.urlencoded({ extended: false, limit: '64kb', parameterLimit: 200 }),
    identify(deps),
    (req, res, next) => {
      const ended = res.locals.sessionEnded as SessionEnd | undefined;
      if (ended === 'idle' || ended === 'expired') return res.redirect(303, `/sign-in?ended=${ended}`);
      next();
    },
    csrfProtection,
    exposeCsrf,
  );

  router.use(authPages(ctx));
  // The people pages answer `/` first for a role whose home is the search; every other role gets the cards.
  router.use(peoplePages(ctx));
  router.get('/', requireUser, (req, res) => ctx.render(req, res, 'home', { title: 'Start' }));
  router.use(consentPages(ctx), casePages(ctx), compliancePages(ctx), adminPages(ctx));
  router.use(consoleErrors(ctx));
  return router;
}

/**
 * Signed double-submit CSRF tokens (csrf-csrf), so a page needs no stored session to protect its
 * form: every post must carry, in `_csrf` (or `x-csrf-token` for the console's one fetch), the
 * token that is also in an HttpOnly, SameSite=Strict cookie, HMAC-signed with a key derived from
 * the key-encryption key. Once a session is stored (signed in, or an enrolment under way) the
 * token is bound to its id, so a token from before the sign-in or from another session fails.
 * A stranger's token is bound to its cookie alone; in production the cookie is `__Host-` (Secure,
 * no Domain), so a sibling host cannot plant one.
 */
function csrf({ config }: AppDeps): { csrfProtection: RequestHandler; exposeCsrf: RequestHandler } {
  const production = config.NODE_ENV === 'production';
  const secret = deriveSubkey(config.keyEncryptionKey, 'console csrf').toString('base64url');
  const { doubleCsrfProtection, generateCsrfToken } = doubleCsrf({
    getSecret: () => secret,
    getSessionIdentifier: (req) => (req.session?.token || req.session?.pending ? req.sessionID : ''),
    cookieName: production ? '__Host-tiergate.csrf' : 'tiergate.csrf',
    cookieOptions: { httpOnly: true, sameSite: 'strict', path: '/', secure: production },
    getCsrfTokenFromRequest: (req) => {
      const fromForm = (req.body as Record<string, unknown> | undefined)?._csrf;
      return typeof fromForm === 'string' ? fromForm : req.get('x-csrf-token');
    },
  });
  return {
    csrfProtection: doubleCsrfProtection,
    // The cookie is Secure whenever the request came over TLS, as the session cookie is.
    exposeCsrf: (req, res, next) => {
      res.locals.csrf = generateCsrfToken(req, res, { cookieOptions: { httpOnly: true, sameSite: 'strict', path: '/', secure: production || req.secure } });
      next();
    },
  };
}

/** The console's one error exit: refusals as plain pages; a forged post is logged before it is refused. */
function consoleErrors({ deps, render }: ConsoleContext): ErrorRequestHandler {
  return (err, req, res, next) => {
    if (res.headersSent) return next(err);
    const show = (status: number, title: string, message: string) => {
      res.locals.csrf ??= '';
      render(req, res, 'error', { title, message, requestId: status >= 500 ? req.id : undefined }, status);
    };
    const code = (err as { code?: unknown }).code;
    if (code === 'EBADCSRFTOKEN') {
      deps.runner
        .deny({
          requestId: req.id,
          actor: req.user,
          action: A.authenticate,
          decision: 'deny',
          reason: 'csrf-token-invalid',
          detail: { path: req.path, console: true },
        })
        .then(
          () =>
            show(
              403,
              'This form could not be accepted',
              'The form was old, or did not come from this console. Nothing was changed. Go back, reload the page and try again.',
            ),
          () => show(503, 'Not available', 'The request could not be logged, so nothing was changed.'),
        );
      return;
    }
    if (err instanceof HttpProblem) {
      if (err.status === 401 || err.status === 403) return show(403, 'Not allowed', 'Your role cannot do this. The attempt has been recorded.');
      if (err.status === 404) return show(404, 'Not found', 'There is nothing here that you can see.');
      if (err.status === 409) return show(409, 'Not possible', err.detail ?? 'This cannot be done in the current state.');
      if (err.status === 400) return show(400, 'Check your request', err.detail ?? 'Something in the request is not valid. Nothing was changed.');
      if (err.status === 503) return show(503, 'Not available', 'The request could not be completed and logged, so nothing was shown or changed.');
    }
    const parserStatus = (err as { status?: unknown }).status;
    // express.static (fallthrough off) answers a missing or refused asset with a 404 or 403 error.
    if ((parserStatus === 404 || parserStatus === 403) && req.path.startsWith('/assets/'))
      return show(404, 'Not found', 'There is nothing here that you can see.');
    if (parserStatus === 413 || parserStatus === 400) return show(400, 'Check your request', 'The form could not be read. Nothing was changed.');
    deps.logger.error({ requestId: req.id, err: errorSummary(err) }, 'console error');
    show(500, 'Something went wrong', 'The page could not be shown. Nothing was changed.');
  };
}
