import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from 'pino';
import { isUuid } from '../http/ids.js';
import { errorSummary } from '../logger.js';
import { isDatabaseUnavailable } from './database.js';
import { HttpProblem, OAuthError, ServiceUnavailable } from './problems.js';

const PROBLEM_TYPE_BASE = 'https://tiergate.example/problems/';

/** Unmatched routes answer like every other error. */
export const notFoundRoute: RequestHandler = (req, res) => {
  sendProblem(res, new HttpProblem(404, 'Not Found', 'No such endpoint.'), req.id);
};

/**
 * The one error exit: known problems become RFC 9457 problem+json (RFC 6749 JSON under /oauth),
 * body-parser failures become 400/413, and anything else a generic 500 whose details go only to
 * the application log (by error class and code, never the message, which may quote data).
 */
export function errorHandler(logger: Logger, retryAfterSeconds = 2): ErrorRequestHandler {
  return (err, req, res, _next) => {
    if (res.headersSent) return;
    // A 503 says when to come back (RFC 9110 10.2.3), whichever format its body takes.
    const status = (err as { status?: unknown })?.status;
    if (status === 503) res.set('Retry-After', String((err as { retryAfter?: number }).retryAfter ?? retryAfterSeconds));
    if (err instanceof OAuthError) {
      res.status(err.status).set('Cache-Control', 'no-store');
      if (err.status === 401) res.set('WWW-Authenticate', 'Basic realm="tiergate"');
      if (err.retryAfter !== undefined || err.status === 503) res.set('Retry-After', String(err.retryAfter ?? retryAfterSeconds));
      res.json({ error: err.error, ...(err.description ? { error_description: err.description } : {}) });
      return;
    }
    const problem =
      err instanceof HttpProblem
        ? err
        : isDatabaseUnavailable(err)
          ? new ServiceUnavailable('The database cannot answer right now; no data was disclosed.')
          : fromParserError(err);
    if (problem?.status === 503 && !(err instanceof HttpProblem)) {
      logger.warn({ requestId: req.id, err: errorSummary(err) }, 'database unavailable');
      res.set('Retry-After', String(retryAfterSeconds));
    }
    if (problem) {
      if (req.originalUrl.startsWith('/oauth/')) {
        const error = problem.status === 503 ? 'temporarily_unavailable' : problem.status >= 500 ? 'server_error' : 'invalid_request';
        res.status(problem.status).set('Cache-Control', 'no-store').json({ error, error_description: problem.detail });
        return;
      }
      sendProblem(res, problem, req.id);
      return;
    }
    logger.error({ requestId: req.id, err: errorSummary(err) }, 'unhandled error');
    if (req.originalUrl.startsWith('/oauth/')) {
      res.status(500).set('Cache-Control', 'no-store').json({ error: 'server_error' });
      return;
    }
    sendProblem(res, new HttpProblem(500, 'Internal Server Error', 'The request could not be completed.'), req.id);
  };
}

function fromParserError(err: { type?: string; status?: number }): HttpProblem | undefined {
  switch (err?.type) {
    case 'entity.parse.failed':
      return new HttpProblem(400, 'Bad Request', 'The request body is not valid JSON.');
    case 'entity.too.large':
      return new HttpProblem(413, 'Content Too Large', 'The request body is too large.');
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new HttpProblem(415, 'Unsupported Media Type', 'The request body encoding is not supported.');
    default:
      return err?.status && err.status >= 400 && err.status < 500 ? new HttpProblem(err.status, 'Bad Request', 'The request could not be read.') : undefined;
  }
}

export function sendProblem(res: Parameters<RequestHandler>[1], problem: HttpProblem, requestId?: string): void {
  const slug = problem.title.toLowerCase().replace(/[^a-z]+/g, '-');
  res.status(problem.status).type('application/problem+json');
  // RFC 6750 section 3.1: no error attribute when the request carried no credentials at all.
  if (problem.status === 401) {
    const missing = (problem as { reason?: string }).reason === 'token_missing';
    res.set('WWW-Authenticate', missing ? 'Bearer realm="tiergate"' : 'Bearer realm="tiergate", error="invalid_token"');
  }
  res.json({
    type: PROBLEM_TYPE_BASE + slug,
    title: problem.title,
    status: problem.status,
    detail: problem.detail,
    // A client-chosen request id need not be a UUID; `urn:uuid:` only fits one that is.
    instance: requestId ? (isUuid(requestId) ? `urn:uuid:${requestId}` : `urn:tiergate:request:${requestId}`) : undefined,
    ...problem.extra,
  });
}
