// Error types of the API. Each carries its HTTP status and a `detail` that is safe to show:
// built from ids, rule names and field paths, never from person data or secrets.
export class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail?: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(detail ?? title);
  }
}

export interface FieldIssue {
  path: string;
  message: string;
}

export class BadRequest extends HttpProblem {
  constructor(
    detail: string,
    readonly issues: FieldIssue[] = [],
  ) {
    super(400, 'Bad Request', detail, issues.length ? { errors: issues } : {});
  }
}

export class Unauthorized extends HttpProblem {
  constructor(
    readonly reason: string,
    detail = 'A valid bearer access token is required.',
  ) {
    super(401, 'Unauthorized', detail);
  }
}

/** A policy refusal; `reason` names the rule (or missing rule) and goes to the access log too. */
export class Forbidden extends HttpProblem {
  constructor(
    readonly reason: string,
    detail = 'The policy does not allow this request.',
  ) {
    super(403, 'Forbidden', detail);
  }
}

export class NotFound extends HttpProblem {
  constructor(what = 'resource') {
    super(404, 'Not Found', `No such ${what}.`);
  }
}

export class Conflict extends HttpProblem {
  constructor(detail: string) {
    super(409, 'Conflict', detail);
  }
}

/**
 * The access log (or the database behind it) could not be written: fail closed. Every 503 carries
 * `Retry-After` (RETRY_AFTER_SECONDS unless `retryAfter` says otherwise).
 */
export class ServiceUnavailable extends HttpProblem {
  constructor(
    detail = 'The access log could not be written; no data was disclosed.',
    readonly retryAfter?: number,
  ) {
    super(503, 'Service Unavailable', detail);
  }
}

/** RFC 6749 section 5.2 error for the /oauth endpoints. */
export class OAuthError extends Error {
  constructor(
    readonly error:
      'invalid_request' | 'invalid_grant' | 'invalid_client' | 'unsupported_grant_type' | 'unauthorized_client' | 'server_error' | 'temporarily_unavailable',
    readonly description?: string,
    readonly status = error === 'invalid_client' ? 401 : error.startsWith('server') ? 500 : error === 'temporarily_unavailable' ? 503 : 400,
    /** Seconds for a Retry-After header (throttling). */
    readonly retryAfter?: number,
  ) {
    super(description ?? error);
  }
}
