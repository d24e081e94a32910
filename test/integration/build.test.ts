import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

// `npm run build` (tsconfig.build.json) compiles the gateway and its tools to JavaScript that
// runs without tsx: built here into a copy of the package laid out as a deployment ships it
// (dist/, migrations/, policies/, package.json, node_modules/), then a compiled tool migrates an
// embedded database and the compiled modules find the policy and the migrations from dist/.
// Once per suite (the PGlite project).

const ROOT = path.resolve(import.meta.dirname, '../..');
const run = promisify(execFile);
const site = mkdtempSync(path.join(tmpdir(), 'tiergate-build-'));
afterAll(() => rmSync(site, { recursive: true, force: true }));

describe.runIf(process.env.TEST_DRIVER !== 'pg')('the build', () => {
  it('compiles to JavaScript that runs from dist/ with the files it reads beside it', async () => {
    for (const item of ['package.json', 'migrations', 'policies']) cpSync(path.join(ROOT, item), path.join(site, item), { recursive: true });
    symlinkSync(path.join(ROOT, 'node_modules'), path.join(site, 'node_modules'));
    const tsc = path.join(ROOT, 'node_modules/typescript/bin/tsc');
    await run(process.execPath, [tsc, '-p', path.join(ROOT, 'tsconfig.build.json'), '--outDir', path.join(site, 'dist')], { cwd: ROOT });
    expect(existsSync(path.join(site, 'dist/src/cluster.js'))).toBe(true);
    expect(existsSync(path.join(site, 'dist/src/main.js'))).toBe(true);
    expect(existsSync(path.join(site, 'dist/scripts/audit-verify.js'))).toBe(true);
    expect(existsSync(path.join(site, 'dist/test'))).toBe(false);

    const env = { ...process.env, NODE_ENV: 'test', LOG_LEVEL: 'silent', DATA_DIR: path.join(site, 'data') };
    const migrated = await run(process.execPath, [path.join(site, 'dist/scripts/migrate.js')], { env, cwd: tmpdir() });
    expect(migrated.stdout).toContain('migrations applied (pglite)');
    const verified = await run(process.execPath, [path.join(site, 'dist/scripts/audit-verify.js')], { env, cwd: tmpdir() });
    expect(verified.stdout).toMatch(/^OK: 0 sealed entries/);

    const probe = `
      const { DEFAULT_POLICY_FILE, loadPolicy } = await import(${JSON.stringify(path.join(site, 'dist/src/authz/policy.js'))});
      const { MIGRATIONS_FOLDER } = await import(${JSON.stringify(path.join(site, 'dist/src/db/migrate.js'))});
      loadPolicy();
      console.log(JSON.stringify({ policy: DEFAULT_POLICY_FILE, migrations: MIGRATIONS_FOLDER }));`;
    const paths = JSON.parse((await run(process.execPath, ['--input-type=module', '-e', probe], { cwd: tmpdir() })).stdout) as Record<string, string>;
    expect(paths).toEqual({ policy: path.join(site, 'policies/protocol.yaml'), migrations: path.join(site, 'migrations') });
  }, 120_000);

  it('npm start runs the compiled entry, building first only when dist/ is stale', () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
      dependencies: Record<string, string>;
      devDependencies: Record<string, string>;
    };
    expect(pkg.scripts.prestart).toBe('node scripts/build.mjs --if-stale');
    expect(pkg.scripts.start).toMatch(/^node .*dist\/src\/cluster\.js$/);
    expect(pkg.scripts.dev).toBe('tsx watch src/main.ts');
    // Nothing the gateway or its tools run needs tsx.
    expect(pkg.dependencies).not.toHaveProperty('tsx');
    for (const name of ['start', 'migrate', 'keys:rotate', 'admin', 'audit:verify', 'audit:export', 'audit:retain', 'audit:disclosures']) {
      expect(pkg.scripts[name], name).not.toContain('tsx');
    }
  });
});
