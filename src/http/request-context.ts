import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { Principal } from '../auth/principal.js';

declare global {
  namespace Express {
    interface User extends Principal {}
    interface Request {
      /** The gateway's own id for this request: always a fresh UUID, never the client's. */
      id: string;
      /** The client's X-Request-Id, when it sent a well-formed one: recorded beside `id`, never in its place. */
      clientRequestId?: string;
    }
  }
}

const REQUEST_ID = /^[A-Za-z0-9._-]{8,64}$/;

// The client request id of each request in flight, by the gateway's request id, so that every
// access-log entry a request writes records it (appendAccessLog looks it up) without each call
// site having to pass it. An entry leaves the map when the response ends or the socket closes.
const inFlight = new Map<string, string>();

/** The X-Request-Id the client sent with the request the gateway calls `requestId`, if any. */
export function clientRequestIdOf(requestId: string): string | undefined {
  return inFlight.get(requestId);
}

/**
 * Gives each request the gateway's own id (for the logs and the access log) and keeps a
 * well-formed incoming X-Request-Id beside it. Two clients that send the same X-Request-Id still
 * get two request ids: the client's value is theirs to choose, so it identifies nothing.
 */
export const requestContext: RequestHandler = (req, res, next) => {
  req.id = randomUUID();
  const incoming = req.get('x-request-id');
  if (incoming && REQUEST_ID.test(incoming)) {
    req.clientRequestId = incoming;
    inFlight.set(req.id, incoming);
    const forget = () => inFlight.delete(req.id);
    res.once('finish', forget);
    res.once('close', forget);
  }
  res.set('X-Request-Id', req.id);
  next();
};
