import { createServer } from 'node:http';
import { mkdirSync } from 'node:fs';
import { buildDeps, createApp } from './app.js';
import { KeyStore, rotateSigningKey } from './auth/keys.js';
import { loadPolicy } from './authz/policy.js';
import { loadConfig } from './config/index.js';
import { openPglite, openPostgres, type Database } from './db/client.js';
import { migrate } from './db/migrate.js';
import { seedDemo } from './db/seed/demo.js';
import { createLogger, errorSummary } from './logger.js';
import { ensureLogPartitions } from './audit/retention.js';
import { sealAndCheckpoint } from './audit/seal.js';
import { exposeMetrics } from './metrics/server.js';

const DAY_MS = 24 * 60 * 60 * 1000;

/** load config → open database → migrate → keys → build app → listen; SIGTERM drains. */
async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.LOG_LEVEL);
  const policy = loadPolicy();

  let database: Database;
  if (config.DATABASE_URL) {
    const owner = openPostgres(config.MIGRATION_DATABASE_URL ?? config.DATABASE_URL, { max: 1 });
    await migrate(owner);
    await owner.close();
    database = openPostgres(config.DATABASE_URL);
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

  const auditReplica = config.AUDIT_DATABASE_URL ? openPostgres(config.AUDIT_DATABASE_URL) : undefined;
  const deps = buildDeps(config, database.db, logger, keys, policy, { auditDb: auditReplica?.db });
  const server = createServer(createApp(deps));
  exposeMetrics(config.METRICS_PORT, config.METRICS_HOST, deps.metrics, logger);
  server.listen(config.PORT, () => logger.info({ port: config.PORT, driver: database.driver, demo: config.demoMode }, 'tiergate listening'));

  // Seals new log entries and signs a checkpoint; off the request path, one sealer cluster-wide.
  let sealing = false;
  const sealer = setInterval(() => {
    if (sealing) return;
    sealing = true;
    sealAndCheckpoint(database.db, keys)
      .catch((err: unknown) => logger.error({ err: errorSummary(err) }, 'sealing failed'))
      .finally(() => (sealing = false));
  }, config.SEAL_INTERVAL_MS);

  const partitions = setInterval(() => {
    ensureLogPartitions(database.db).catch((err: unknown) => logger.error({ err: errorSummary(err) }, 'creating log partitions failed'));
  }, DAY_MS);

  const shutdown = () => {
    logger.info('draining');
    clearInterval(sealer);
    clearInterval(partitions);
    server.close(() => void database.close().then(() => process.exit(0)));
    setTimeout(() => process.exit(1), 10_000).unref();
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

main().catch((err: Error) => {
  // Start-up failures name the bad setting; they never include secrets or person data.
  console.error(`tiergate failed to start: ${err.message}`);
  process.exit(1);
});
