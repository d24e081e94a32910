import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { Principal } from '../auth/principal.js';

declare global {
  namespace Express {
    interface User extends Principal {}
    interface Request {
      id: string;
    }
  }
}

const REQUEST_ID = /^[A-Za-z0-9._-]{8,64}$/;

/** Gives each request an id (a well-formed incoming X-Request-Id is kept) for logs and the access log. */
export const requestContext: RequestHandler = (req, res, next) => {
  const incoming = req.get('x-request-id');
  req.id = incoming && REQUEST_ID.test(incoming) ? incoming : randomUUID();
  res.set('X-Request-Id', req.id);
  next();
};
