import type { Request, Response } from 'express';
import { subject as as } from '@casl/ability';
import { Eta } from 'eta';
import type { z } from 'zod';
import { compileAbility, type Action, type SubjectType } from '../authz/ability.js';
import type { Policy } from '../authz/policy.js';
import { IDLE_MS, WARN_BEFORE_MS } from './session.js';
import { VIEWS_DIR } from './paths.js';

// autoEscape is Eta's default; kept explicit because every page shows person data.
const eta = new Eta({ views: VIEWS_DIR, autoEscape: true, autoTrim: false, cache: process.env.NODE_ENV !== 'development' });

export type FieldErrors = Record<string, string>;

export interface NavItem {
  href: string;
  label: string;
}

/** What the signed-in role may do, asked of the same CASL ability the API uses (offers only; routes re-check). */
export function offers(policy: Policy, req: Request) {
  const ability = req.user ? compileAbility(policy, req.user) : undefined;
  const can = (action: Action, type: SubjectType) => ability?.can(action, type) ?? false;
  /** The instance decision (this case, this consent), as the service will make it. */
  const canOn = (action: Action, type: SubjectType, instance: Record<string, unknown>) => ability?.can(action, as(type, { ...instance })) ?? false;
  const nav: NavItem[] = [];
  if (can('search', 'Subject')) nav.push({ href: '/people', label: 'Find a person' });
  if (can('create', 'Subject')) nav.push({ href: '/people/new', label: 'Add a person' });
  if (can('read', 'AuditEvent'))
    nav.push(
      { href: '/compliance/log', label: 'Access log' },
      { href: '/compliance/break-glass', label: 'Break-glass review' },
      { href: '/compliance/integrity', label: 'Log integrity' },
      { href: '/compliance/activity', label: 'Activity' },
      { href: '/compliance/approvals', label: 'Approvals' },
    );
  if (can('manage', 'Admin'))
    nav.push(
      { href: '/admin/agencies', label: 'Agencies' },
      { href: '/admin/users', label: 'Users' },
      { href: '/admin/clients', label: 'Clients' },
      { href: '/admin/keys', label: 'Keys' },
    );
  return { can, canOn, nav };
}

/** The navigation item the page belongs to: the longest href the path is, or is under (one only). */
export function currentItem(nav: NavItem[], path: string): string | undefined {
  const under = nav.filter((i) => path === i.href || path.startsWith(`${i.href}/`));
  return under.sort((a, b) => b.href.length - a.href.length)[0]?.href;
}

/** A role whose one job in the console is finding a person (records staff, dispatcher): its home is the search. */
export function searchIsHome(policy: Policy, req: Request): boolean {
  const { nav } = offers(policy, req);
  return nav.length === 1 && nav[0]!.href === '/people';
}

/** Renders a page inside the layout with what every page needs (user, nav, CSRF token, idle timer). */
export function page(policy: Policy, req: Request, res: Response, view: string, data: Record<string, unknown> = {}, status = 200): void {
  const flash = req.session?.flash;
  if (flash) delete req.session.flash;
  const offered = offers(policy, req);
  const html = eta.render(view, {
    errors: {},
    values: {},
    ...data,
    user: req.user,
    path: req.path,
    current: currentItem(offered.nav, req.path),
    flash,
    csrf: (res.locals.csrf as string | undefined) ?? '',
    idleSeconds: IDLE_MS / 1000,
    warnSeconds: WARN_BEFORE_MS / 1000,
    ...offered,
  });
  const send = () => res.status(status).type('html').send(html);
  // The page may carry a pending step ("check your answers") its next post relies on: store it
  // first. A stranger's page stores nothing (the store keeps only signed-in or enrolling sessions).
  if (!req.session?.token && !req.session?.pending) return void send();
  req.session.save((err) => (err ? res.status(503).type('text').send('The session could not be stored; nothing was changed.') : send()));
}

/** Field errors from a zod failure, by the first segment of each path (the form field's name). */
export function fieldErrors(error: z.ZodError, rename: Record<string, string> = {}): FieldErrors {
  const out: FieldErrors = {};
  for (const issue of error.issues) {
    const key = issue.path.map(String).join('.') || 'form';
    const field = rename[key] ?? rename[String(issue.path[0])] ?? String(issue.path[0] ?? 'form');
    out[field] ??= sentence(issue.message);
  }
  return out;
}

const sentence = (m: string) => (m ? m[0]!.toUpperCase() + m.slice(1) : 'Check this field');

/** A form field's value as a trimmed string ('' when absent or repeated oddly). */
export function str(body: unknown, key: string): string {
  const v = (body as Record<string, unknown> | undefined)?.[key];
  return typeof v === 'string' ? v.trim() : '';
}

/** A checkbox group's values (urlencoded gives a string for one, an array for several). */
export function list(body: unknown, key: string): string[] {
  const v = (body as Record<string, unknown> | undefined)?.[key];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : typeof v === 'string' && v ? [v] : [];
}

/** What a three-field date came to: the ISO date, or the error in words and which parts are wrong. */
export interface DateAnswer {
  values: Record<string, string>;
  iso?: string;
  error?: string;
  parts?: string;
}

/**
 * A memorable-date field (`<name>-day`, `-month`, `-year`) read as GOV.UK does: each part a number,
 * the error names what is missing or wrong ("Date of birth must include a year", "Enter a real
 * date of birth"), and the values come back as typed. `label` is the field's name in a sentence.
 */
export function dateField(body: unknown, name: string, label: string, { optional = false, past = false } = {}): DateAnswer {
  const typed = { day: str(body, `${name}-day`), month: str(body, `${name}-month`), year: str(body, `${name}-year`) };
  const values = { [`${name}-day`]: typed.day, [`${name}-month`]: typed.month, [`${name}-year`]: typed.year };
  const Label = label[0]!.toUpperCase() + label.slice(1);
  const missing = (['day', 'month', 'year'] as const).filter((p) => !typed[p]);
  if (missing.length === 3) return optional ? { values } : { values, error: `Enter the ${label}`, parts: 'day month year' };
  if (missing.length) return { values, error: `${Label} must include a ${missing.join(' and a ')}`, parts: missing.join(' ') };
  const [d, m, y] = [typed.day, typed.month, typed.year].map((x) => (/^\d+$/.test(x) ? Number(x) : NaN)) as [number, number, number];
  const at = new Date(Date.UTC(y, m - 1, d));
  if (!(typed.year.length === 4 && at.getUTCFullYear() === y && at.getUTCMonth() === m - 1 && at.getUTCDate() === d))
    return { values, error: `Enter a real ${label}`, parts: 'day month year' };
  if (past && at.getTime() > Date.now()) return { values, error: `${Label} must be in the past`, parts: 'day month year' };
  return { values, iso: at.toISOString().slice(0, 10) };
}

/** A date answer's error on a form's errors (the fieldset's message, and the parts the partial marks). */
export function dateError(errors: FieldErrors, name: string, answer: DateAnswer): void {
  if (!answer.error) return;
  errors[name] = answer.error;
  errors[`${name}-parts`] = answer.parts ?? 'day month year';
}

/** What a confirmation page says: the question, the consequence, the "Yes, …" box and where to go back. */
export interface Confirmation {
  heading: string;
  consequence: string[];
  yes: string;
  button: string;
  action: string;
  back: string;
  person?: string;
}

/**
 * Whether the post of an irreversible step carries its ticked "Yes, …" box. If not, the
 * confirmation page is shown instead (with an error when it was shown already and the box left
 * empty), and nothing is changed.
 */
export function confirmed(req: Request, res: Response, policy: Policy, ask: Confirmation): boolean {
  if (list(req.body, 'confirm').includes('yes')) return true;
  const asked = str(req.body, 'asked') === 'yes';
  page(
    policy,
    req,
    res,
    'confirm',
    { title: ask.heading, ...ask, errors: asked ? { confirm: `Tick “${ask.yes}” to go on, or cancel` } : {} },
    asked ? 400 : 200,
  );
  return false;
}
