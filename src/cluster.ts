// The production entry point (`npm start`): WEB_CONCURRENCY worker processes on this host through
// node:cluster, sharing the port, so one machine uses all its cores; with 1 (the default) the
// gateway runs in this process. Workers are whole gateway instances (src/main.ts): each has its
// own pool and sealer, and the database keeps them in step (one sealer at a time by advisory
// lock, keys and revocations read from the database), as it does for instances on other hosts.
import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry } from 'prom-client';
import { loadConfig } from './config/index.js';
import { createLogger } from './logger.js';
import { metricsServer } from './metrics/server.js';

const RESTART_DELAY_MS = 1_000;
const MAX_RESTARTS_PER_MINUTE = 5;

async function primary(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.LOG_LEVEL).child({ role: 'primary' });
  if (!config.DATABASE_URL) throw new Error('WEB_CONCURRENCY > 1 needs DATABASE_URL: embedded PGlite admits one process');

  let stopping = false;
  const restarts: number[] = [];
  // Resolves once the worker listens; rejects if it exits first (a start-up failure).
  const fork = () =>
    new Promise<Worker>((resolve, reject) => {
      const worker = cluster.fork();
      const failed = (code: number | null) => reject(new Error(`worker ${worker.id} exited with ${code} before listening`));
      worker.once('exit', failed);
      worker.once('listening', () => {
        worker.off('exit', failed);
        resolve(worker);
      });
    });

  // The first worker migrates, creates a key (demo) and seeds (demo) alone; the others start after
  // it listens, so that no two run migrations at once.
  await fork();
  await Promise.all(Array.from({ length: config.WEB_CONCURRENCY - 1 }, fork));
  logger.info({ workers: config.WEB_CONCURRENCY, port: config.PORT }, 'tiergate workers listening');

  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return;
    const now = Date.now();
    restarts.push(now);
    while (restarts.length && restarts[0]! < now - 60_000) restarts.shift();
    logger.error({ worker: worker.id, code, signal }, 'worker exited');
    if (restarts.length > MAX_RESTARTS_PER_MINUTE) {
      logger.fatal('workers keep exiting; stopping');
      process.exit(1);
    }
    setTimeout(() => fork().catch(() => undefined), RESTART_DELAY_MS);
  });

  if (config.METRICS_PORT !== undefined) {
    // Each worker answers for its own series; counters and pools add up, the database's
    // gauges (seal queue, checkpoint age) keep one worker's value.
    const aggregator = new AggregatorRegistry();
    metricsServer(() => aggregator.clusterMetrics(), aggregator.contentType, logger).listen(config.METRICS_PORT, config.METRICS_HOST, () =>
      logger.info({ port: config.METRICS_PORT, host: config.METRICS_HOST }, 'metrics listening'),
    );
  }

  const shutdown = () => {
    if (stopping) return;
    stopping = true;
    logger.info('draining workers');
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
    // Each worker bounds its own drain; the primary waits a little longer for the last of them.
    setTimeout(() => process.exit(1), config.SHUTDOWN_TIMEOUT_MS + 5_000).unref();
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  cluster.on('exit', () => {
    if (stopping && Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
  });
}

const workers = (() => {
  try {
    return loadConfig().WEB_CONCURRENCY;
  } catch {
    return 1; // start() reports the bad configuration
  }
})();

if (cluster.isPrimary && workers > 1) {
  primary().catch((err: Error) => {
    console.error(`tiergate failed to start: ${err.message}`);
    process.exit(1);
  });
} else {
  // One gateway in this process (alone, or as a worker): SIGTERM and SIGINT drain it, then exit.
  const { start } = await import('./main.js');
  start().then(
    (gateway) => {
      const stop = () => void gateway.drain().then((finished) => process.exit(finished ? 0 : 1));
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
    },
    (err: Error) => {
      // Start-up failures name the bad setting; they never include secrets or person data.
      console.error(`tiergate failed to start: ${err.message}`);
      process.exit(1);
    },
  );
}
