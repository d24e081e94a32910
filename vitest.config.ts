import { defineConfig } from 'vitest/config';

// One suite, two drivers (as drizzle's own integration tests do): always on embedded PGlite, and
// again on PostgreSQL when TEST_DATABASE_URL names a server (a superuser URL; see test/helpers/db.ts).
const shared = { include: ['test/**/*.test.ts'], testTimeout: 30_000, hookTimeout: 120_000, setupFiles: ['test/helpers/no-network.ts'] };

export default defineConfig({
  test: {
    projects: [
      { test: { ...shared, name: 'pglite', env: { TEST_DRIVER: 'pglite' } } },
      ...(process.env.TEST_DATABASE_URL ? [{ test: { ...shared, name: 'postgres', env: { TEST_DRIVER: 'pg' } } }] : []),
    ],
  },
});
