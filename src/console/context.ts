import type { Request, RequestHandler, Response } from 'express';
import type { AppDeps } from '../deps.js';
import { confirmed, page, type Confirmation } from './render.js';
import { save } from './session.js';

/** What every page module gets: the gateway's own services, and the renderer. */
export interface ConsoleContext {
  deps: AppDeps;
  render(req: Request, res: Response, view: string, data?: Record<string, unknown>, status?: number): void;
  /** For what cannot be undone: true when the post carries the ticked "Yes, …" box; else the confirmation page is sent. */
  confirmed(req: Request, res: Response, ask: Confirmation): boolean;
}

export function consoleContext(deps: AppDeps): ConsoleContext {
  return {
    deps,
    render: (req, res, view, data, status) => page(deps.pdp.policy, req, res, view, data, status),
    confirmed: (req, res, ask) => confirmed(req, res, deps.pdp.policy, ask),
  };
}

/** Pages past sign-in: anyone without a live session goes to the sign-in page. */
export const requireUser: RequestHandler = (req, res, next) => {
  if (req.user) return next();
  res.redirect(303, '/sign-in');
};

/** Post/redirect/get: the next page shows `message` once. */
export async function done(req: Request, res: Response, to: string, message: string): Promise<void> {
  req.session.flash = message;
  await save(req);
  res.redirect(303, to);
}

/** A redirect after the session (a pending step) has been stored. */
export async function redirectSaved(req: Request, res: Response, to: string): Promise<void> {
  await save(req);
  res.redirect(303, to);
}
