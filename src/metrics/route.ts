import type { Request, RequestHandler } from 'express';

const patterns = new WeakMap<Request, string>();

/**
 * Records the full pattern of the route that handles a request (`/v1/subjects/:id`, never the
 * URL with its ids). Express keeps only the innermost router's path in `req.route` and restores
 * `req.baseUrl` once an error leaves the router, so the pattern is captured the moment the router
 * assigns `req.route`, while `req.baseUrl` is still that router's mount path.
 */
export const captureRoutePattern: RequestHandler = (req, _res, next) => {
  let route: { path?: unknown } | undefined;
  Object.defineProperty(req, 'route', {
    configurable: true,
    enumerable: true,
    get: () => route,
    set(value: { path?: unknown } | undefined) {
      route = value;
      if (value && typeof value.path === 'string') patterns.set(req, `${req.baseUrl}${value.path}`);
    },
  });
  next();
};

/** The route pattern that handled `req`, or `unmatched` (404s, and refusals before any route). */
export const routeOf = (req: Request): string => patterns.get(req) ?? 'unmatched';
