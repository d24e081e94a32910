import { createServer, type Server, type ServerResponse } from 'node:http';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { createApp } from './app.js';
import { buildDeps } from './deps.js';
import { KeyStore, rotateSigningKey } from './auth/keys.js';
import { loadPolicy } from './authz/policy.js';
import { loadConfig, type Config } from './config/index.js';
import { openPglite, openPostgres, type Database } from './db/client.js';
import { migrate } from './db/migrate.js';
import { seedDemo } from './db/seed/demo.js';
import { createLogger, errorSummary } from './logger.js';
import { ensureLogPartitions } from './audit/retention.js';
import { sealAll, sealOnSchedule } from './audit/seal.js';
import { exposeMetrics } from './metrics/server.js';

const DAY_MS = 24 * 60 * 60 * 1000;

/** A running gateway: its HTTP server and what `drain` needs to stop it cleanly. */
export interface Gateway {
  server: Server;
  config: Config;
  logger: Logger;
  database: Database;
  /** True from the moment draining starts: readiness answers 503, every response closes its connection. */
  readonly draining: boolean;
  /** Stops the gateway (see `drain`); resolves true if everything finished within SHUTDOWN_TIMEOUT_MS. */
  drain(): Promise<boolean>;
}

/**
 * load config → open database → migrate → keys → build app → listen. Returns once listening.
 * Installs no signal handlers: the caller decides (the entry point below, or a cluster worker).
 */
export async function start(config: Config = loadConfig()): Promise<Gateway> {
  const logger = createLogger(config.LOG_LEVEL);
  const policy = loadPolicy(config.POLICY_FILE);

  let database: Database;
  if (config.DATABASE_URL) {
    const owner = openPostgres(config.MIGRATION_DATABASE_URL ?? config.DATABASE_URL, { max: 1 });
    await migrate(owner);
    await owner.close();
    database = openPostgres(config.DATABASE_URL, {
      max: config.DB_POOL_MAX,
      poolWaitMs: config.DB_POOL_WAIT_MS,
      statementTimeoutMs: config.DB_STATEMENT_TIMEOUT_MS,
      lockTimeoutMs: config.DB_LOCK_TIMEOUT_MS,
    });
  } else {
    mkdirSync(config.DATA_DIR, { recursive: true });
    database = await openPglite(config.DATA_DIR);
    await migrate(database);
  }

  // The log is partitioned by month: this month's partition and the next two must exist before
  // the first request, and are topped up daily (an entry without a partition fails closed, 503).
  await ensureLogPartitions(database.db);

  const keys = new KeyStore(database.db, config.keyEncryptionKey);
  await keys.load();
  if (!keys.hasSigningKey()) {
    if (!config.demoMode) throw new Error('no active signing key: run `npm run keys:rotate` before starting in production');
    await rotateSigningKey(database.db, config.keyEncryptionKey, config.TOKEN_TTL_SECONDS);
    await keys.load();
  }
  if (config.demoMode && (await seedDemo(database.db, config.DEMO_PASSWORD))) logger.info('seeded the demo tenancy');

  const lifecycle = { draining: false };
  const auditReplica = config.AUDIT_DATABASE_URL ? openPostgres(config.AUDIT_DATABASE_URL) : undefined;
  const deps = buildDeps(config, database.db, logger, keys, policy, { auditDb: auditReplica?.db });
  const app = createApp({ ...deps, lifecycle });
  const metricsServer = exposeMetrics(config.METRICS_PORT, config.METRICS_HOST, deps.metrics, logger);
  // While draining, every response tells its client the connection ends with it.
  const inFlight = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    if (lifecycle.draining) res.setHeader('Connection', 'close');
    inFlight.add(res);
    res.once('close', () => inFlight.delete(res));
    app(req, res);
  });
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(config.PORT, () => {
      server.off('error', reject);
      resolveListen();
    });
  });
  logger.info({ port: config.PORT, driver: database.driver, demo: config.demoMode }, 'tiergate listening');
  logger.flush();

  // Seals new log entries, and signs a checkpoint on the policy's schedule; off the request path,
  // one sealer (and one signer per interval) cluster-wide.
  let sealing: Promise<unknown> | undefined;
  const seal = () =>
    (sealing ??= sealOnSchedule(database.db, keys, policy.checkpoints)
      .catch((err: unknown) => logger.error({ err: errorSummary(err) }, 'sealing failed'))
      .finally(() => (sealing = undefined)));
  const sealer = setInterval(() => void seal(), config.SEAL_INTERVAL_MS);

  const partitions = setInterval(() => {
    ensureLogPartitions(database.db).catch((err: unknown) => logger.error({ err: errorSummary(err) }, 'creating log partitions failed'));
  }, DAY_MS);

  let drained: Promise<boolean> | undefined;
  const drain = () =>
    (drained ??= (async () => {
      lifecycle.draining = true;
      logger.info({ inFlight: inFlight.size }, 'draining');
      // Responses still being worked on end their connection too (keep-alive clients reconnect elsewhere).
      for (const res of inFlight) if (!res.headersSent) res.setHeader('Connection', 'close');
      clearInterval(sealer);
      clearInterval(partitions);
      const bound = new Promise<false>((r) => setTimeout(() => r(false), config.SHUTDOWN_TIMEOUT_MS).unref());
      const orderly = (async () => {
        // No new connections; idle keep-alive connections close now, busy ones after their response.
        const closed = new Promise<void>((r) => server.close(() => r()));
        server.closeIdleConnections();
        metricsServer?.close();
        await closed;
        // The sealer finishes the batch it is on, then seals all that the last requests wrote
        // (its step leaves a long queue to the next one; there is no next one here).
        await sealing;
        await seal();
        await sealAll(database.db).catch((err: unknown) => logger.error({ err: errorSummary(err) }, 'sealing failed'));
        return true as const;
      })();
      const finished = await Promise.race([orderly, bound]);
      if (!finished) {
        logger.warn({ timeoutMs: config.SHUTDOWN_TIMEOUT_MS }, 'drain timed out; closing remaining connections');
        server.closeAllConnections();
      }
      // A pool whose client is stuck in a query would wait for it: bounded too.
      await Promise.race([
        Promise.all([database.close(), auditReplica?.close()]).catch(() => undefined),
        new Promise((r) => setTimeout(r, finished ? 5_000 : 200).unref()),
      ]);
      logger.info({ finished }, 'drained');
      await new Promise<void>((r) => logger.flush(() => r()));
      return finished;
    })());

  return {
    server,
    config,
    logger,
    database,
    get draining() {
      return lifecycle.draining;
    },
    drain,
  };
}

/** Drains a gateway: readiness 503, no new connections, in-flight requests and the sealer finish, bounded. */
export function drain(gateway: Gateway): Promise<boolean> {
  return gateway.drain();
}

/** The entry point (`npm start`): SIGTERM and SIGINT drain, then exit 0 (1 if the bound was hit). */
async function main(): Promise<void> {
  const gateway = await start();
  const stop = () => {
    void gateway.drain().then((finished) => process.exit(finished ? 0 : 1));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

const entry = process.argv[1] ? resolve(process.argv[1]) : '';
if (entry === fileURLToPath(import.meta.url) || entry === fileURLToPath(import.meta.url).replace(/\.ts$/, '')) {
  main().catch((err: Error) => {
    // Start-up failures name the bad setting; they never include secrets or person data.
    console.error(`tiergate failed to start: ${err.message}`);
    process.exit(1);
  });
}
