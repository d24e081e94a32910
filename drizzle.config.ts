import { defineConfig } from 'drizzle-kit';

// Migrations are generated from src/db/schema by `npm run db:generate` and never edited by hand,
// except the bodies of `--custom` migrations (privileges and triggers drizzle cannot express).
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/db/schema/index.ts',
  out: './migrations',
});
