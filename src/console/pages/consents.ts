import { Router, type Request, type Response } from 'express';
import { AUDIT_ACTIONS as A } from '../../audit/vocabulary.js';
import { BadRequest } from '../../errors/problems.js';
import { createConsentBody, revokeConsentBody } from '../../modules/consents/schemas.js';
import { ConsentService } from '../../modules/consents/service.js';
import { SubjectService } from '../../modules/subjects/service.js';
import { done, requireUser, type ConsoleContext } from '../context.js';
import { dateError, dateField, fieldErrors, list, str } from '../render.js';
import { date, day, humanize, personWords } from '../words.js';
import { idParam, namePerson } from './people.js';
import { uuid } from '../../http/validate.js';

const KIND_WORDS: Record<string, string> = { police: 'every police agency', mental_health: 'every mental-health agency', hospital: 'every hospital' };
const CATEGORY_WORDS: Record<string, string> = {
  'substance-use': 'substance-use treatment records (42 CFR Part 2)',
  'psychotherapy-notes': 'psychotherapy notes',
};
const KINDS = [
  ['police', 'Police agencies'],
  ['mental_health', 'Mental-health agencies'],
  ['hospital', 'Hospitals'],
] as const;

type ConsentInput = ReturnType<typeof createConsentBody.parse>;

/** The form's fields as the API's consent body (dates as whole UTC days). */
function consentBody(values: Record<string, string | string[]>) {
  const agencies = String(values.agencies ?? '')
    .split(/[\s,]+/)
    .filter(Boolean);
  const kinds = values.kinds as string[];
  return {
    recipients: [...agencies.map((agency) => ({ agency })), ...kinds.map((agencyKind) => ({ agencyKind }))],
    tiers: ['intermediate'],
    sensitiveCategories: values.categories,
    purpose: values.purpose,
    ...(values.validFrom ? { validFrom: `${String(values.validFrom)}T00:00:00Z` } : {}),
    ...(values.validUntil ? { validUntil: `${String(values.validUntil)}T23:59:59Z` } : {}),
    evidence: { form: values.form, ...(values.witness ? { witness: values.witness } : {}), ...(values.reference ? { reference: values.reference } : {}) },
  };
}

/** What the consent will release to whom, in words, before it is saved. */
function preview(c: ConsentInput, discloser: string, person: string): string[] {
  const who = c.recipients.map((r) => ('agency' in r ? r.agency : (KIND_WORDS[r.agencyKind] ?? r.agencyKind)));
  const lines = [
    `${who.join(' and ')} will see ${person}’s intermediate-tier records (diagnoses, treatment history and crisis plan) that ${discloser} contributed.`,
    c.sensitiveCategories.length
      ? `This includes ${c.sensitiveCategories.map((s) => CATEGORY_WORDS[s] ?? s).join(' and ')}.`
      : 'Substance-use treatment records and psychotherapy notes stay withheld.',
    `Purpose: ${humanize(c.purpose)}.`,
    `From ${c.validFrom ? date(c.validFrom) : 'today'} ${c.validUntil ? `until ${date(c.validUntil)}` : 'with no end date, until revoked'}.`,
    `Evidence: ${c.evidence.form} consent${c.evidence.witness ? `, witnessed by ${c.evidence.witness}` : ''}.`,
    'Full-tier records (case notes, contacts) are not released by a consent.',
  ];
  return lines;
}

/** Record a consent (form, plain-language preview, save) and revoke one with a reason. */
export function consentPages({ deps, render }: ConsoleContext): Router {
  const { pdp, runner } = deps;
  const service = new ConsentService(pdp);
  const subjects = new SubjectService(pdp);
  const router = Router();
  const purposes = Object.keys(pdp.policy.disclosures.purposeOfUse);

  router.get('/people/:id/consents', requireUser, pdp.authorize('read', 'Consent', A.consentRead), async (req, res) => {
    const id = idParam(req);
    const { consents } = await runner.run(req, A.consentRead, (scope) => service.list(scope, req.user!, id));
    render(req, res, 'consents/list', { title: 'Consents', id, person: await namePerson(deps, req, id), consents, w: { date, day, humanize } });
  });

  const form = async (req: Request, res: Response, id: string, extra: Record<string, unknown> = {}, status = 200) =>
    render(req, res, 'consents/new', { title: 'Record a consent', id, person: await namePerson(deps, req, id), kinds: KINDS, purposes, ...extra }, status);
  const guard = pdp.authorize('create', 'Consent', A.consentCreate);
  router.get('/people/:id/consents/new', requireUser, guard, (req, res) =>
    form(req, res, idParam(req), { values: { form: 'written', purpose: 'care-coordination' } }),
  );

  router.post('/people/:id/consents/check', requireUser, guard, async (req, res) => {
    const id = idParam(req);
    const from = dateField(req.body, 'validFrom', 'start date', { optional: true });
    const until = dateField(req.body, 'validUntil', 'end date', { optional: true });
    const values = {
      agencies: str(req.body, 'agencies'),
      kinds: list(req.body, 'kinds'),
      categories: list(req.body, 'categories'),
      purpose: str(req.body, 'purpose'),
      ...from.values,
      ...until.values,
      form: str(req.body, 'form'),
      witness: str(req.body, 'witness'),
      reference: str(req.body, 'reference'),
    };
    const parsed = createConsentBody.safeParse(consentBody({ ...values, validFrom: from.iso ?? '', validUntil: until.iso ?? '' }));
    if (!parsed.success || from.error || until.error) {
      const errors = parsed.success
        ? {}
        : fieldErrors(parsed.error, {
            recipients: 'agencies',
            sensitiveCategories: 'categories',
            'evidence.form': 'form',
            'evidence.witness': 'witness',
            'evidence.reference': 'reference',
          });
      if (errors.agencies) errors.agencies = 'Name at least one recipient: an agency such as city-hospital, or a kind of agency';
      if (errors.form) errors.form = 'Say whether the consent was written or verbal';
      if (errors.purpose) errors.purpose = 'Choose the purpose the consent is given for';
      if (errors.validUntil) dateError(errors, 'validUntil', { ...until, error: 'The end date must be after the start date' });
      dateError(errors, 'validFrom', from);
      dateError(errors, 'validUntil', until);
      return form(req, res, id, { values, errors }, 400);
    }
    // Whose name the preview shows comes from the same audited read as the person page.
    const person = await runner.read(req, A.subjectRead, (scope) => subjects.read(scope, req.user!, id));
    req.session.pending = { consentFor: id, consent: parsed.data, values };
    render(req, res, 'consents/check', {
      title: 'Check the consent before you save it',
      id,
      person: personWords(person.subject),
      lines: preview(parsed.data, req.user!.agency, `${person.subject.givenName} ${person.subject.familyName}`),
    });
  });

  router.post('/people/:id/consents/edit', requireUser, guard, (req, res) => {
    const id = idParam(req);
    const pending = req.session.pending as { consentFor?: string; values?: Record<string, unknown> } | undefined;
    return form(req, res, id, { values: pending?.consentFor === id ? pending.values : {} });
  });

  router.post('/people/:id/consents', requireUser, guard, async (req, res) => {
    const id = idParam(req);
    const pending = req.session.pending as { consentFor?: string; consent?: ConsentInput; values?: Record<string, unknown> } | undefined;
    if (pending?.consentFor !== id || !pending.consent) return res.redirect(303, `/people/${id}/consents/new`);
    const consent = pending.consent;
    const who = await namePerson(deps, req, id);
    try {
      await runner.run(req, A.consentCreate, (scope) => service.create(scope, req.user!, id, consent));
    } catch (err) {
      // An unknown or disabled recipient agency is known only to the service: back to the form, nothing saved.
      if (!(err instanceof BadRequest)) throw err;
      return form(
        req,
        res,
        id,
        { values: pending.values, errors: { agencies: err.issues.map((i) => i.message).join('; ') || (err.detail ?? 'Check the recipients') } },
        400,
      );
    }
    delete req.session.pending;
    await done(req, res, `/people/${id}/consents`, `Consent recorded for ${who}. It takes effect at once.`);
  });

  // The person is named only when the consent is theirs: the link's `subject` is only a hint.
  const revokeForm = async (req: Request, res: Response, extra: Record<string, unknown> = {}, status = 200) => {
    const consentId = idParam(req);
    const hinted = uuid.safeParse(str(req.query, 'subject') || str(req.body, 'subject'));
    const subjectId = hinted.success ? hinted.data.toLowerCase() : '';
    const theirs =
      subjectId && (await runner.run(req, A.consentRead, (scope) => service.list(scope, req.user!, subjectId))).consents.some((c) => c.id === consentId);
    const person = theirs ? await namePerson(deps, req, subjectId) : undefined;
    render(req, res, 'consents/revoke', { title: 'Revoke a consent', consentId, subjectId: theirs ? subjectId : '', person, ...extra }, status);
  };
  const guardRevoke = pdp.authorize('revoke', 'Consent', A.consentRevoke);
  router.get('/consents/:id/revoke', requireUser, guardRevoke, (req, res) => revokeForm(req, res));
  router.post('/consents/:id/revoke', requireUser, guardRevoke, async (req, res) => {
    const consentId = idParam(req);
    const values = { reason: str(req.body, 'reason') };
    const parsed = revokeConsentBody.safeParse(values);
    if (!parsed.success) return revokeForm(req, res, { values, errors: { reason: 'Give the reason the consent is revoked' } }, 400);
    const revoked = await runner.run(req, A.consentRevoke, (scope) => service.revoke(scope, req.user!, consentId, parsed.data.reason));
    const who = await namePerson(deps, req, revoked.subjectId);
    await done(req, res, `/people/${revoked.subjectId}/consents`, `Consent revoked for ${who}. From now on no one gets what it released.`);
  });

  return router;
}
