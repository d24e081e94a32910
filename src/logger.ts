import { pino, type Logger } from 'pino';

/**
 * Application logs: request ids, routes, statuses and error classes only. Anything that could
 * carry a token, a password or person data is redacted should it ever be passed in by mistake.
 */
export function createLogger(level: string): Logger {
  return pino(
    {
      level,
      redact: {
        paths: ['req.headers.authorization', 'headers.authorization', 'password', '*.password', 'token', '*.token', 'access_token', 'body', '*.body', 'otp'],
        censor: '[redacted]',
      },
    },
    // Asynchronous, buffered writes to stdout: a request never waits for its log line (drain flushes).
    level === 'silent' ? undefined : pino.destination({ dest: 1, sync: false, minLength: 4096 }),
  );
}

/** What may be logged of an error: its class and SQLSTATE-style codes, never its message. */
export function errorSummary(err: unknown): Record<string, unknown> {
  const e = err as { constructor?: { name?: string }; code?: unknown; cause?: { code?: unknown; constructor?: { name?: string } } } | undefined;
  return { type: e?.constructor?.name, code: e?.code, causeType: e?.cause?.constructor?.name, causeCode: e?.cause?.code };
}
