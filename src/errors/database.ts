// Which errors mean "the database cannot answer right now" (a 503 with Retry-After), as opposed
// to a bug (a 500). Checked on the error and its causes (drizzle wraps driver errors).

// SQLSTATEs: statement or lock timeout, query cancelled, the server shutting down or starting,
// too many connections, serialization and deadlock failures, and every connection exception.
const UNAVAILABLE_CODES = new Set(['57014', '55P03', '57P01', '57P02', '57P03', '53300', '53400', '40001', '40P01', '25P03']);
const UNAVAILABLE_NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH']);
// node-postgres reports a lost connection and a pool wait that ran out only in the message.
const UNAVAILABLE_MESSAGES = [
  /timeout exceeded when trying to connect/i,
  /connection terminated/i,
  /client has encountered a connection error/i,
  /not queryable/i,
];

export function isDatabaseUnavailable(err: unknown): boolean {
  for (let e = err as { code?: unknown; message?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    const code = typeof e.code === 'string' ? e.code : undefined;
    if (code && (UNAVAILABLE_CODES.has(code) || code.startsWith('08') || UNAVAILABLE_NODE_CODES.has(code))) return true;
    if (typeof e.message === 'string' && UNAVAILABLE_MESSAGES.some((m) => m.test(e!.message as string))) return true;
  }
  return false;
}
