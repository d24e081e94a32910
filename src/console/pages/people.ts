// The console's person pages: the search, adding a person (with its duplicate screen), the person
// page and what acts on one person (risk flags, entries, break glass). Longer than most modules
// (about 330 lines) because these pages share the person's caption, the search's sealed hand-over
// and the duplicate screen's state; the consent and case pages, which stand alone, have their own.
import { Router, type Request, type Response } from 'express';
import type { AppDeps } from '../../deps.js';
import { AUDIT_ACTIONS as A } from '../../audit/vocabulary.js';
import { ENTRY_KINDS, ENTRY_TIERS, RISK_SEVERITIES, SENSITIVE_CATEGORIES, SEXES, tierRank } from '../../authz/vocabulary.js';
import { Forbidden, HttpProblem, NotFound } from '../../errors/problems.js';
import { uuid } from '../../http/validate.js';
import { breakGlassBody, runBreakGlass } from '../../modules/break-glass/routes.js';
import { describeBasis } from '../../modules/subjects/access-basis.js';
import { createEntryBody, createRiskFlagBody, createSubjectBody, searchQuery } from '../../modules/subjects/schemas.js';
import { SEARCH_LIMIT, SubjectService, type GradedPerson } from '../../modules/subjects/service.js';
import { done, redirectSaved, requireUser, type ConsoleContext } from '../context.js';
import { save } from '../session.js';
import { openSecret, sealSecret } from '../../auth/keys.js';
import { dateError, dateField, fieldErrors, list, searchIsHome, str, type FieldErrors } from '../render.js';
import { basisWords, date, day, humanize, personWords, minutesLeft, SEVERITY_ORDER, SEVERITY_WORDS, stamp, tierName } from '../words.js';

/** A search's answer, kept sealed in the session for the GET after the post. */
interface SearchShown {
  at: number;
  values: Record<string, string>;
  results: unknown[];
  truncated: boolean;
}
const RESULTS_KEPT_MS = 60_000;

const GRADE_WORDS = { certain: 'Certainly the same person', probable: 'Probably the same person', possible: 'Possibly the same person' } as const;
/** A person shown in a list, with the grade in words and what tells look-alikes apart. */
function inWords(p: GradedPerson) {
  return { ...p, gradeWords: p.grade ? GRADE_WORDS[p.grade] : '', refuses: p.grade === 'certain' || p.grade === 'probable' };
}

const HOW_TO_APPROACH = new Set(['de-escalation', 'preferred-responder']);

/** The id in the path, or a 404 page (the same answer whether or not such a person exists). */
export function idParam(req: Request, name = 'id'): string {
  const parsed = uuid.safeParse(req.params[name]);
  if (!parsed.success) throw new NotFound('subject');
  return parsed.data.toLowerCase();
}

/**
 * Who a page acts on, in words ("Ada Lovelace, born 3 February 1985"), so a tired reader sees
 * whom before acting. It is the same audited read as the person page (one decision, one log
 * entry), so a page names only someone its user may read.
 */
export async function namePerson(deps: AppDeps, req: Request, id: string): Promise<string> {
  const record = await deps.runner.read(req, A.subjectRead, (scope) => new SubjectService(deps.pdp).read(scope, req.user!, id));
  return personWords(record.subject);
}

/** Search, the person page, and the contributions a role may make to it. */
export function peoplePages({ deps, render }: ConsoleContext): Router {
  const { pdp, runner } = deps;
  const service = new SubjectService(pdp);
  const router = Router();
  const breakGlass = pdp.policy.breakGlass;
  const reasonSchema = breakGlassBody(breakGlass);

  // The search is a form post, then a redirect: name and date of birth are person data, and a URL
  // keeps them in proxy logs, the browser's history and the Referer of the next page. The results
  // wait for the GET that follows in the session, sealed with the key-encryption key (a copy of
  // the session table reads nothing), shown once and for at most a minute. A GET that still
  // carries the terms (an old bookmark) is sent to the empty form without searching.
  const sealResults = (shown: SearchShown) => sealSecret(JSON.stringify(shown), deps.config.keyEncryptionKey);
  const openResults = (sealed: string | undefined): SearchShown | undefined => {
    if (!sealed) return undefined;
    try {
      const shown = JSON.parse(openSecret(sealed, deps.config.keyEncryptionKey)) as SearchShown;
      return Date.now() - shown.at <= RESULTS_KEPT_MS ? shown : undefined;
    } catch {
      return undefined;
    }
  };
  const searchPage = (req: Request, res: Response, extra: Record<string, unknown> = {}, status = 200) =>
    render(req, res, 'people/search', { title: 'Find a person', values: {}, limit: SEARCH_LIMIT, w: { date }, ...extra }, status);
  // For a role whose one job is finding a person, the home is the search itself (its nav's one item).
  router.get('/', requireUser, (req, res, next) => (searchIsHome(pdp.policy, req) ? searchPage(req, res) : next()));
  router.get('/people', requireUser, pdp.authorize('search', 'Subject', A.subjectSearch), async (req, res) => {
    if ('name' in req.query || 'dob' in req.query) return res.redirect(303, '/people');
    const shown = openResults(req.session.searchResults);
    if (req.session.searchResults) {
      delete req.session.searchResults;
      await save(req);
    }
    searchPage(req, res, shown ? { values: shown.values, results: shown.results, truncated: shown.truncated } : {});
  });
  router.post('/people/search', requireUser, pdp.authorize('search', 'Subject', A.subjectSearch), async (req, res) => {
    const dob = dateField(req.body, 'dob', 'date of birth', { past: true });
    const values = { name: str(req.body, 'name'), ...dob.values };
    const parsed = searchQuery.safeParse({ name: values.name, dob: dob.iso ?? '' });
    if (!parsed.success || dob.error) {
      const errors: FieldErrors = {};
      if (parsed.error?.issues.some((i) => i.path[0] === 'name')) errors.name = 'Enter a name, for example Lovelace';
      if (dob.error) dateError(errors, 'dob', dob);
      else if (parsed.error?.issues.some((i) => i.path[0] === 'dob')) dateError(errors, 'dob', { ...dob, error: 'Enter a real date of birth' });
      return searchPage(req, res, { values, errors }, 400);
    }
    const found = await runner.read(req, A.subjectSearch, (scope) => service.search(scope, req.user!, parsed.data));
    req.session.searchResults = sealResults({ at: Date.now(), values, results: found.subjects.map(inWords), truncated: found.truncated });
    await redirectSaved(req, res, '/people');
  });

  router.get('/people/new', requireUser, pdp.authorize('create', 'Subject', A.subjectCreate), (req, res) =>
    render(req, res, 'people/new', { title: 'Add a person', sexes: SEXES, w: { date } }),
  );

  // Adding a person asks first: a probable duplicate comes back to the form with the candidates
  // side by side (who added each, how many risk flags) and the choice "a different person,
  // because …", which resubmits with notDuplicateOf and the reason.
  router.post('/people', requireUser, pdp.authorize('create', 'Subject', A.subjectCreate), async (req, res) => {
    const born = dateField(req.body, 'birthDate', 'date of birth', { past: true });
    const values = {
      givenName: str(req.body, 'givenName'),
      familyName: str(req.body, 'familyName'),
      ...born.values,
      sex: str(req.body, 'sex'),
      reason: str(req.body, 'reason'),
    };
    const notDuplicateOf = list(req.body, 'notDuplicateOf');
    const parsed = createSubjectBody.safeParse({
      givenName: values.givenName,
      familyName: values.familyName,
      birthDate: born.iso ?? '',
      sex: values.sex,
      ...(notDuplicateOf.length || values.reason ? { notDuplicateOf, reason: values.reason } : {}),
    });
    const form = (extra: Record<string, unknown>, status: number) =>
      render(req, res, 'people/new', { title: 'Add a person', sexes: SEXES, values, w: { date }, ...extra }, status);
    if (!parsed.success || born.error) {
      const errors = parsed.success ? {} : fieldErrors(parsed.error);
      delete errors.birthDate;
      if (born.error) dateError(errors, 'birthDate', born);
      else if (!parsed.success && parsed.error.issues.some((i) => i.path[0] === 'birthDate'))
        dateError(errors, 'birthDate', { ...born, error: 'Enter a real date of birth' });
      if (errors.givenName) errors.givenName = 'Enter the given name';
      if (errors.familyName) errors.familyName = 'Enter the family name';
      if (errors.sex) errors.sex = 'Choose the sex as recorded';
      if (errors.reason) errors.reason = 'Say in words, at least 10 characters, why this is a different person';
      return form({ errors }, 400);
    }
    const outcome = await runner.run(req, A.subjectCreate, (scope) => service.create(scope, req.user!, parsed.data));
    if ('duplicate' in outcome) {
      return form(
        {
          candidates: outcome.duplicate.map(inWords),
          errors: { candidates: 'This person may already be recorded. Open the people below; if this is none of them, tick each and say why.' },
        },
        409,
      );
    }
    const created = outcome.created;
    await done(req, res, `/people/${created.id}`, `${personWords(created)} was added.`);
  });

  /** The person page: the same read as GET /v1/subjects/:id (one decision, one log entry), worded. */
  router.get('/people/:id', requireUser, pdp.authorize('read', 'Subject', A.subjectRead), async (req, res) => {
    const id = idParam(req);
    const record = await runner.read(req, A.subjectRead, (scope) => service.read(scope, req.user!, id));
    // In words, what the logged read rested on: only the consents, cases and grants it names.
    const facts = await describeBasis(deps.db, record.access.basis);
    const flags = [...record.subject.riskFlags].sort((a, b) => (SEVERITY_ORDER[a.severity] ?? 9) - (SEVERITY_ORDER[b.severity] ?? 9));
    const grant = [...facts.breakGlass.values()][0];
    render(req, res, 'people/show', {
      title: `${record.subject.givenName} ${record.subject.familyName}`,
      subject: record.subject,
      risks: flags.filter((f) => !HOW_TO_APPROACH.has(f.code)),
      deescalation: flags.filter((f) => f.code === 'de-escalation'),
      responders: flags.filter((f) => f.code === 'preferred-responder'),
      entries: record.subject.entries,
      access: record.access,
      // 42 CFR 2.32: a Part 2 record disclosed with consent carries the redisclosure notice.
      notices: record.access.notices ?? [],
      basisLines: basisWords(record.access.tier, record.access.basis, facts),
      cases: [...facts.cases.entries()].map(([caseId, c]) => ({ id: caseId, ...c })),
      breakGlassLeft: grant ? { minutes: minutesLeft(grant.expiresAt), until: stamp(grant.expiresAt), at: new Date(grant.expiresAt).toISOString() } : undefined,
      offerBreakGlass: tierRank(record.access.tier) < tierRank(breakGlass.tier),
      w: { date, day, humanize, tierName, severity: SEVERITY_WORDS },
    });
  });

  const flagForm = async (req: Request, res: Response, id: string, extra: Record<string, unknown> = {}, status = 200) =>
    render(
      req,
      res,
      'people/risk-flag',
      { title: 'Add a risk flag', id, person: await namePerson(deps, req, id), severities: RISK_SEVERITIES, ...extra },
      status,
    );
  router.get('/people/:id/risk-flags/new', requireUser, pdp.authorize('create', 'RiskFlag', A.riskFlagCreate), (req, res) => flagForm(req, res, idParam(req)));
  router.post('/people/:id/risk-flags', requireUser, pdp.authorize('create', 'RiskFlag', A.riskFlagCreate), async (req, res) => {
    const id = idParam(req);
    const values = { code: str(req.body, 'code'), severity: str(req.body, 'severity'), note: str(req.body, 'note') };
    const parsed = createRiskFlagBody.safeParse({ code: values.code, severity: values.severity, ...(values.note ? { note: values.note } : {}) });
    if (!parsed.success) {
      const errors = fieldErrors(parsed.error);
      if (errors.severity) errors.severity = 'Choose how serious the risk is';
      return flagForm(req, res, id, { values, errors }, 400);
    }
    const who = await namePerson(deps, req, id);
    await runner.run(req, A.riskFlagCreate, (scope) => service.addRiskFlag(scope, req.user!, id, parsed.data));
    await done(req, res, `/people/${id}`, `Risk flag “${humanize(parsed.data.code)}” added for ${who}.`);
  });

  const entryForm = async (req: Request, res: Response, id: string, extra: Record<string, unknown> = {}, status = 200) =>
    render(
      req,
      res,
      'people/entry',
      {
        title: 'Add an entry',
        id,
        person: await namePerson(deps, req, id),
        kinds: ENTRY_KINDS,
        tiers: ENTRY_TIERS,
        categories: SENSITIVE_CATEGORIES,
        ...extra,
      },
      status,
    );
  router.get('/people/:id/entries/new', requireUser, pdp.authorize('create', 'Entry', A.entryCreate), (req, res) => entryForm(req, res, idParam(req)));
  router.post('/people/:id/entries', requireUser, pdp.authorize('create', 'Entry', A.entryCreate), async (req, res) => {
    const id = idParam(req);
    const values = {
      kind: str(req.body, 'kind'),
      tier: str(req.body, 'tier'),
      sensitivity: list(req.body, 'sensitivity'),
      summary: str(req.body, 'summary'),
      details: str(req.body, 'details'),
    };
    const parsed = createEntryBody.safeParse({
      kind: values.kind,
      tier: values.tier,
      sensitivity: values.sensitivity,
      summary: values.summary,
      content: values.details ? { text: values.details } : {},
    });
    if (!parsed.success) {
      const errors = fieldErrors(parsed.error, { content: 'details' });
      if (errors.kind) errors.kind = 'Choose what kind of entry this is';
      if (errors.tier) errors.tier = 'Choose who may see this entry';
      return entryForm(req, res, id, { values, errors }, 400);
    }
    const who = await namePerson(deps, req, id);
    await runner.run(req, A.entryCreate, (scope) => service.addEntry(scope, req.user!, id, parsed.data));
    await done(req, res, `/people/${id}`, `Entry “${parsed.data.summary}” added for ${who}.`);
  });

  // Break glass: the reason, then "check your answers", then the grant (flagged, reviewed, time-boxed).
  // A live grant of one's own is renewed, never doubled: `renew` with a new reason replaces it.
  const bgForm = async (req: Request, res: Response, id: string, extra: Record<string, unknown> = {}, status = 200) =>
    render(
      req,
      res,
      'people/break-glass',
      {
        title: 'Emergency access',
        id,
        person: await namePerson(deps, req, id),
        breakGlass,
        renewOptions: [['yes', 'Renew my live emergency access']],
        ...extra,
      },
      status,
    );
  const guardBg = pdp.authorize('create', 'BreakGlass', A.breakGlass);
  router.get('/people/:id/break-glass', requireUser, guardBg, (req, res) =>
    bgForm(req, res, idParam(req), { values: { renew: str(req.query, 'renew') === 'yes' ? 'yes' : '' } }),
  );
  router.post('/people/:id/break-glass/check', requireUser, guardBg, (req, res) => {
    const id = idParam(req);
    const values = { reason: str(req.body, 'reason'), renew: str(req.body, 'renew') === 'yes' ? 'yes' : '' };
    const parsed = reasonSchema.safeParse({ reason: values.reason });
    if (!parsed.success)
      return bgForm(
        req,
        res,
        id,
        {
          values,
          errors: {
            reason: `Give the reason for emergency access in words, at least ${breakGlass.minReasonLength} characters: ${parsed.error.issues[0]?.message ?? ''}`,
          },
        },
        400,
      );
    req.session.pending = { breakGlass: id, reason: parsed.data.reason, renew: values.renew === 'yes' };
    return bgForm(req, res, id, { values, check: true });
  });
  /** What the live-grant rule and the daily cap refuse, said at the reason (the refusal is logged already). */
  const bgRefusal = (err: unknown): { reason: string; renew?: boolean } | undefined => {
    if (err instanceof Forbidden && err.reason === 'break-glass-daily-cap')
      return {
        reason: `You have declared emergency access ${breakGlass.maxPerDay} times in the last 24 hours, the most allowed. Ask a colleague or a compliance officer.`,
      };
    if (!(err instanceof HttpProblem) || err.status !== 409) return undefined;
    const why = (err as { reason?: unknown }).reason;
    if (why === 'break-glass-live')
      return {
        reason: 'Your emergency access to this person is still live. To extend it, tick “Renew my live emergency access” and give a new reason.',
        renew: true,
      };
    if (why === 'break-glass-renewal-same-reason') return { reason: 'A renewal needs a new reason: say what the emergency is now.', renew: true };
    if (why === 'break-glass-nothing-to-renew')
      return { reason: 'You have no live emergency access to this person to renew. Untick “Renew” to declare a new one.', renew: false };
    return { reason: err.detail ?? 'This cannot be done now.' };
  };
  router.post('/people/:id/break-glass', requireUser, guardBg, async (req, res) => {
    const id = idParam(req);
    const pending = req.session.pending as { breakGlass?: string; reason?: string; renew?: boolean } | undefined;
    if (pending?.breakGlass !== id || !pending.reason) return res.redirect(303, `/people/${id}/break-glass`);
    const { reason, renew } = pending;
    delete req.session.pending;
    let grant;
    try {
      grant = await runBreakGlass(deps, req, id, reason, renew);
    } catch (err) {
      const refused = bgRefusal(err);
      if (!refused) throw err;
      const status = err instanceof HttpProblem ? err.status : 409;
      return bgForm(req, res, id, { values: { reason, renew: (refused.renew ?? renew) ? 'yes' : '' }, errors: { reason: refused.reason } }, status);
    }
    const what = grant.renewalOf ? 'Emergency access renewed' : 'Emergency access granted';
    const who = await namePerson(deps, req, id);
    await done(req, res, `/people/${id}`, `${what} to ${who}, at the ${tierName(grant.tier)} tier until ${stamp(grant.expiresAt)}. It will be reviewed.`);
  });

  return router;
}
