import type { Express } from 'express';
import { buildDeps, createApp } from '../../src/app.js';
import type { AppDeps } from '../../src/deps.js';
import { KeyStore, rotateSigningKey } from '../../src/auth/keys.js';
import { loadPolicy, type Policy } from '../../src/authz/policy.js';
import { loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/logger.js';
import type { Database, Db } from '../../src/db/client.js';

export interface TestApp {
  app: Express;
  deps: AppDeps;
}

export const TEST_ENV = { NODE_ENV: 'test', LOG_LEVEL: 'silent', TOKEN_ISSUER: 'https://tiergate.test', TOKEN_AUDIENCE: 'tiergate-api' };

/** The real app in-process: real keys in the database, real policy, real token service. */
export async function createTestApp(
  database: Database,
  options: { policy?: Policy; env?: Record<string, string>; keyRefreshMs?: number; auditDb?: Db } = {},
): Promise<TestApp> {
  const config = loadConfig({ ...TEST_ENV, ...options.env });
  const keys = new KeyStore(database.db, config.keyEncryptionKey, options.keyRefreshMs);
  await keys.load();
  if (!keys.hasSigningKey()) {
    await rotateSigningKey(database.db, config.keyEncryptionKey, config.TOKEN_TTL_SECONDS);
    await keys.load();
  }
  const deps = buildDeps(config, database.db, createLogger('silent'), keys, options.policy ?? loadPolicy(), { auditDb: options.auditDb });
  return { app: createApp(deps), deps };
}
