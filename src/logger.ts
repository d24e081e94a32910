import { pino, type DestinationStream, type Logger } from 'pino';
import { PinoPretty } from 'pino-pretty';

// Keys whose values are never written, wherever they appear one level down. The application log
// carries request ids, routes, statuses and error classes only; this is the net beneath that rule.
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
  'authorization',
  'cookie',
  'password',
  '*.password',
  'token',
  '*.token',
  'access_token',
  '*.access_token',
  'client_assertion',
  '*.client_assertion',
  'enrolment_code',
  '*.enrolment_code',
  'totp_secret',
  '*.totp_secret',
  'recovery_codes',
  '*.recovery_codes',
  'secret',
  '*.secret',
  'body',
  '*.body',
  'query',
  '*.query',
  'otp',
  '*.otp',
];

export interface LoggerOptions {
  /** Coloured one-line records (pino-pretty) instead of JSON lines. Default: see `prettyByDefault`. */
  pretty?: boolean;
  /** Where records go; stdout by default. */
  destination?: DestinationStream;
}

/** Pretty outside production when stdout is a terminal; JSON lines in production and when piped. */
export function prettyByDefault(env: NodeJS.ProcessEnv = process.env, isTty = Boolean(process.stdout.isTTY)): boolean {
  if (env.LOG_FORMAT === 'json') return false;
  if (env.LOG_FORMAT === 'pretty') return true;
  return env.NODE_ENV !== 'production' && isTty;
}

/**
 * Application logs. Redaction runs before either format, so a token or a password passed in by
 * mistake reads `[redacted]` in the terminal and in the JSON lines alike.
 */
export function createLogger(level: string, options: LoggerOptions = {}): Logger {
  const pretty = options.pretty ?? prettyByDefault();
  const destination =
    options.destination && !pretty
      ? options.destination
      : pretty
        ? PinoPretty({
            colorize: options.destination ? false : true,
            translateTime: 'SYS:HH:MM:ss.l',
            // The request fields are in the line itself; the request id stays below it.
            ignore: 'pid,hostname,method,route,status,ms',
            // A request reads as one line: `GET /v1/subjects/:id 200 3.1 ms`.
            messageFormat: (log, messageKey) =>
              typeof log.method === 'string'
                ? `${log.method} ${String(log.route)} ${String(log.status)} ${Number(log.ms).toFixed(1)} ms`
                : String(log[messageKey]),
            sync: true,
            ...(options.destination ? { destination: options.destination as unknown as NodeJS.WritableStream } : {}),
          })
        : // Asynchronous, buffered writes to stdout: a request never waits for its log line (drain flushes).
          pino.destination({ dest: 1, sync: false, minLength: 4096 });
  return pino({ level, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } }, destination);
}

/** What may be logged of an error: its class and SQLSTATE-style codes, never its message. */
export function errorSummary(err: unknown): Record<string, unknown> {
  const e = err as { constructor?: { name?: string }; code?: unknown; cause?: { code?: unknown; constructor?: { name?: string } } } | undefined;
  return { type: e?.constructor?.name, code: e?.code, causeType: e?.cause?.constructor?.name, causeCode: e?.cause?.code };
}
