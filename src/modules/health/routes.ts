import { Router } from 'express';
import { TransactionRollbackError } from 'drizzle-orm';
import { accessLog } from '../../db/schema/index.js';
import type { AppDeps } from '../../deps.js';

/** Liveness, readiness (database reachable and the access log insertable), and the public keys. */
export function healthRouter({ db, keys, lifecycle, config }: AppDeps): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  // Ready means the log takes an entry right now: a probe insert that is always rolled back.
  router.get('/readyz', async (_req, res) => {
    // A draining instance tells its load balancer at once, before it checks anything else.
    if (lifecycle?.draining) {
      res.status(503).set('Retry-After', String(config.RETRY_AFTER_SECONDS)).json({ status: 'draining' });
      return;
    }
    let logWritable = false;
    try {
      await db.transaction(async (tx) => {
        await tx.insert(accessLog).values({ requestId: 'readyz-probe', action: 'readyz', decision: 'allow' });
        logWritable = true;
        tx.rollback();
      });
    } catch (err) {
      if (!(err instanceof TransactionRollbackError)) logWritable = false;
    }
    // Draining may have begun while the probe ran: the answer is then 503 all the same.
    const ready = !lifecycle?.draining && logWritable && keys.hasSigningKey();
    if (!ready) res.set('Retry-After', String(config.RETRY_AFTER_SECONDS));
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'unavailable', logWritable, signingKey: keys.hasSigningKey() });
  });
  router.get('/.well-known/jwks.json', async (_req, res) => {
    // The keys last read beat no keys while the database is unreachable.
    const jwks = await keys.publishedJwks().catch(() => keys.jwks());
    res.set('Cache-Control', 'public, max-age=60').json(jwks);
  });
  return router;
}
