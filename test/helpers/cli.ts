import { execFile } from 'node:child_process';

/**
 * Runs a TypeScript command-line tool (or fixture) as its own process, the way an operator would,
 * with a quiet test environment plus `env`. Resolves with the exit code (null when killed after
 * `timeoutMs`) and both streams; never rejects on a non-zero exit.
 */
export function runScript(
  script: string,
  args: string[] = [],
  env: Record<string, string> = {},
  timeoutMs = 60_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', script, ...args],
      { env: { ...process.env, NODE_ENV: 'test', LOG_LEVEL: 'silent', ...env }, timeout: timeoutMs, killSignal: 'SIGKILL' },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }),
    );
  });
}
