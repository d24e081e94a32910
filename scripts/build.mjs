// `npm run build`: compiles src/ and scripts/ with tsc (tsconfig.build.json) into a fresh dist/.
// `--if-stale` (npm start's prestart) builds only when dist/ is missing or older than a source,
// so `npm ci && npm start` still does everything and a built deployment starts without tsc.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const stamp = path.join(root, 'dist', '.built');
const inputs = ['src', 'scripts', 'tsconfig.json', 'tsconfig.build.json', 'package.json'];

function newest(p) {
  const s = statSync(p);
  if (!s.isDirectory()) return s.mtimeMs;
  return readdirSync(p).reduce((m, name) => Math.max(m, newest(path.join(p, name))), s.mtimeMs);
}

if (process.argv.includes('--if-stale') && existsSync(stamp)) {
  const built = statSync(stamp).mtimeMs;
  if (inputs.every((i) => !existsSync(path.join(root, i)) || newest(path.join(root, i)) <= built)) process.exit(0);
}

rmSync(path.join(root, 'dist'), { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const result = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
if (result.status !== 0) process.exit(result.status ?? 1);
writeFileSync(stamp, `${new Date().toISOString()}\n`);
