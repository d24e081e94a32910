import { Router } from 'express';
import { sql } from 'drizzle-orm';
import type { AppDeps } from '../../app.js';

/** Liveness, readiness (database reachable and the access log insertable), and the public keys. */
export function healthRouter({ db, keys }: AppDeps): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    try {
      const result = await db.execute(sql`select has_table_privilege('access_log', 'INSERT') as writable`);
      const rows = (Array.isArray(result) ? result : (result as { rows: { writable: boolean }[] }).rows) as { writable: boolean }[];
      const writable = rows[0]?.writable === true;
      res.status(writable && keys.hasSigningKey() ? 200 : 503).json({ status: writable ? 'ready' : 'log-unwritable', database: 'ok', signingKey: keys.hasSigningKey() });
    } catch {
      res.status(503).json({ status: 'unavailable', database: 'unreachable' });
    }
  });
  router.get('/.well-known/jwks.json', (_req, res) => {
    res.set('Cache-Control', 'public, max-age=60').json(keys.jwks());
  });
  return router;
}
