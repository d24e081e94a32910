import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The folder holding tiergate's package.json, found by walking up from this file, so that
 * policies/, migrations/ and package.json resolve the same from src/ (tsx) and from dist/src/
 * (the compiled build).
 */
export function packageRoot(from = path.dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

/** A path inside the package, e.g. `fromPackageRoot('migrations')`. */
export const fromPackageRoot = (...segments: string[]): string => path.join(packageRoot(), ...segments);
