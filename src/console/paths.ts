import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root (the folder with package.json), found upward so it works from src/ and from dist/. */
function packageRoot(from = path.dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error('package.json not found above the console module');
  }
}

const ROOT = packageRoot();
/** Templates and the console's own assets stay in src/console (not compiled), read at run time. */
export const VIEWS_DIR = path.join(ROOT, 'src', 'console', 'views');
export const ASSETS_DIR = path.join(ROOT, 'src', 'console', 'assets');
export const USWDS_DIST = path.join(ROOT, 'node_modules', '@uswds', 'uswds', 'dist');
