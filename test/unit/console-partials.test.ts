import { within } from '@testing-library/dom';
import express from 'express';
import { JSDOM } from 'jsdom';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { loadPolicy } from '../../src/authz/policy.js';
import { dateField, page } from '../../src/console/render.js';
import { date, day, personWords, stamp, useTimeZone } from '../../src/console/words.js';

// The console's partials (src/console/views/partials), rendered by the console's own `page()`
// (so with its Eta instance and defaults: autoEscape, the empty `errors` and `values`, the CSRF
// token from res.locals) and read as a screen reader would: each control found by its role and
// accessible name, its hint and error found through aria-describedby, never by class names.

const policy = loadPolicy();
const HOSTILE = `"><script>alert('x')</script><img src=x onerror=alert(1)>`;

// One in-process express app whose only route renders what the test asks for through page().
const pending = new Map<string, { view: string; data: Record<string, unknown>; csrf?: string }>();
const app = express();
app.get('/render/:id', (req, res) => {
  const job = pending.get(req.params.id)!;
  if (job.csrf !== undefined) res.locals.csrf = job.csrf;
  page(policy, req, res, job.view, job.data);
});
let renders = 0;

/** The partial's HTML as the console sends it, and its document body. */
async function render(partial: string, data: Record<string, unknown>, csrf?: string) {
  const id = String(++renders);
  pending.set(id, { view: `partials/${partial}`, data, csrf });
  const res = await request(app).get(`/render/${id}`);
  pending.delete(id);
  expect(res.status).toBe(200);
  expect(res.headers['content-type']).toMatch(/^text\/html/);
  return { html: res.text, body: new JSDOM(res.text).window.document.body };
}

/** The form group (the partial's outer element) that holds this control. */
const groupOf = (el: Element) => el.closest('.usa-form-group')!;
/** Whether `a` comes before `b` in the document. */
const before = (a: Node, b: Node) => Boolean(a.compareDocumentPosition(b) & a.DOCUMENT_POSITION_FOLLOWING);

/**
 * The accessible description of a control with this hint and error. The "Error:" prefix is a
 * visually hidden span whose trailing space dom-accessibility-api trims (GOV.UK keeps the space
 * outside the span), so the space after the colon is optional here; the error's own text is
 * checked exactly where the element is read.
 */
const describedBy = (hint: string | undefined, error: string) => new RegExp(`^${hint ? `${escapeRegExp(hint)} ` : ''}Error: ?${escapeRegExp(error)}$`);
const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Hostile text shows as text: no element, attribute or handler of it reaches the document. */
function expectInert(body: HTMLElement, html: string) {
  expect(body.querySelectorAll('script, img')).toHaveLength(0);
  expect(html).not.toContain('<script>');
  expect(html).not.toContain('<img');
  for (const el of body.querySelectorAll('*')) expect(el.getAttribute('onerror'), el.outerHTML).toBeNull();
}

describe('partials/field', () => {
  it('labels a text field and wires nothing to describe when there is no hint or error', async () => {
    const { body } = await render('field', { name: 'givenName', label: 'Given name', autocomplete: 'off' });
    const input = within(body).getByRole('textbox', { name: 'Given name' });
    expect(input.id).toBe('givenName');
    expect(input.getAttribute('name')).toBe('givenName');
    expect(input.getAttribute('type')).toBe('text');
    expect(input.getAttribute('value')).toBe('');
    expect(input.getAttribute('autocomplete')).toBe('off');
    expect(input.hasAttribute('required')).toBe(true);
    expect(input.hasAttribute('aria-describedby')).toBe(false);
    expect(input.hasAttribute('aria-invalid')).toBe(false);
    expect(body.querySelector('.usa-error-message')).toBeNull();
  });

  it('describes the field by its hint, through an id the hint carries', async () => {
    const { body } = await render('field', { name: 'birthDate', label: 'Date of birth', hint: 'Year-month-day', type: 'date', width: 'medium' });
    const input = within(body).getByLabelText('Date of birth');
    expect(within(body).getByText('Year-month-day').id).toBe('birthDate-hint');
    expect(input.getAttribute('aria-describedby')).toBe('birthDate-hint');
    expect(input.getAttribute('type')).toBe('date');
    expect(input.classList.contains('usa-input--medium')).toBe(true);
  });

  it('puts the error next to its field, after the hint and before the control, and marks the control invalid', async () => {
    const { body } = await render('field', {
      name: 'birthDate',
      label: 'Date of birth',
      hint: 'Year-month-day',
      errors: { birthDate: 'Enter the date of birth as year-month-day', givenName: 'Enter a given name' },
      values: { birthDate: '1985-13-40' },
    });
    const input = within(body).getByRole('textbox', {
      name: 'Date of birth',
      description: describedBy('Year-month-day', 'Enter the date of birth as year-month-day'),
    });
    expect(input.getAttribute('aria-describedby')).toBe('birthDate-hint birthDate-error');
    expect(input.getAttribute('aria-invalid')).toBe('true');
    // The value typed comes back, so the person corrects it instead of typing it again.
    expect((input as HTMLInputElement).value).toBe('1985-13-40');
    const error = body.querySelector('#birthDate-error')!;
    expect(error.textContent).toBe('Error: Enter the date of birth as year-month-day');
    expect(groupOf(error)).toBe(groupOf(input));
    expect(groupOf(input).classList.contains('usa-form-group--error')).toBe(true);
    expect(before(body.querySelector('#birthDate-hint')!, error)).toBe(true);
    expect(before(error, input)).toBe(true);
    // Another field's error is not shown here.
    expect(body.textContent).not.toContain('Enter a given name');
  });

  it('says a field is optional in its label and does not require it', async () => {
    const { body } = await render('field', { name: 'note', label: 'Note', hint: 'What a responder should know', type: 'textarea', optional: true });
    const area = within(body).getByRole('textbox', { name: 'Note (optional)', description: 'What a responder should know' });
    expect(area.tagName).toBe('TEXTAREA');
    expect(area.hasAttribute('required')).toBe(false);
  });

  it('gives a select its label, its blank choice and the chosen option', async () => {
    const { body } = await render('field', {
      name: 'sex',
      label: 'Sex',
      type: 'select',
      blank: '- Select -',
      options: [
        ['female', 'Female'],
        ['male', 'Male'],
      ],
      values: { sex: 'male' },
      errors: { sex: 'Choose one' },
    });
    const select = within(body).getByRole('combobox', { name: 'Sex', description: describedBy(undefined, 'Choose one') });
    expect(
      within(select)
        .getAllByRole('option')
        .map((o) => [o.getAttribute('value'), o.textContent]),
    ).toEqual([
      ['', '- Select -'],
      ['female', 'Female'],
      ['male', 'Male'],
    ]);
    expect((select as HTMLSelectElement).value).toBe('male');
    expect(select.getAttribute('aria-invalid')).toBe('true');
  });

  it('never echoes a password back into the page', async () => {
    const { html, body } = await render('field', { name: 'password', label: 'Password', type: 'password', values: { password: 'correct horse battery' } });
    const input = within(body).getByLabelText('Password');
    expect(input.getAttribute('type')).toBe('password');
    expect(input.hasAttribute('value')).toBe(false);
    expect(html).not.toContain('correct horse battery');
  });

  it.each(['text', 'textarea', 'select'])('shows hostile text in a %s field as text, never as markup', async (type) => {
    const { html, body } = await render('field', {
      name: 'summary',
      label: `Label ${HOSTILE}`,
      hint: `Hint ${HOSTILE}`,
      type,
      options: [[HOSTILE, `Option ${HOSTILE}`]],
      values: { summary: HOSTILE },
      errors: { summary: `Error ${HOSTILE}` },
    });
    expectInert(body, html);
    const control = body.querySelector<HTMLInputElement>('#summary')!;
    // The person's own text round-trips exactly, as a value and not as markup.
    expect(control.value).toBe(HOSTILE);
    expect(within(body).getByText(`Hint ${HOSTILE}`).id).toBe('summary-hint');
    expect(body.querySelector('#summary-error')!.textContent).toBe(`Error: Error ${HOSTILE}`);
    expect(body.querySelector('label')!.textContent).toBe(`Label ${HOSTILE}`);
  });
});

describe('partials/choices', () => {
  const severity = {
    name: 'severity',
    label: 'How serious is it?',
    hint: 'Pick one',
    options: [
      ['high', 'High risk'],
      ['medium', 'Medium risk'],
      ['low', 'Low risk'],
    ],
  };

  it('groups radios under a legend, each with its own label, the chosen one checked', async () => {
    const { body } = await render('choices', { ...severity, values: { severity: 'medium' } });
    const group = within(body).getByRole('group', { name: 'How serious is it?', description: 'Pick one' });
    expect(group.tagName).toBe('FIELDSET');
    expect(group.id).toBe('severity');
    const radios = within(group).getAllByRole('radio');
    expect(radios.map((r) => [r.getAttribute('name'), r.getAttribute('value')])).toEqual([
      ['severity', 'high'],
      ['severity', 'medium'],
      ['severity', 'low'],
    ]);
    expect(within(group).getByRole('radio', { name: 'Medium risk' })).toBe(radios[1]);
    expect(radios.map((r) => (r as HTMLInputElement).checked)).toEqual([false, true, false]);
    expect(new Set(radios.map((r) => r.id)).size).toBe(3);
  });

  it('ticks every chosen box of a multiple choice', async () => {
    const { body } = await render('choices', {
      name: 'categories',
      multiple: true,
      label: 'Sensitive categories the person agreed to share',
      options: [
        ['substance-use', 'Substance-use treatment (42 CFR Part 2)'],
        ['psychotherapy-notes', 'Psychotherapy notes'],
      ],
      values: { categories: ['psychotherapy-notes'] },
    });
    const group = within(body).getByRole('group', { name: 'Sensitive categories the person agreed to share' });
    expect(group.hasAttribute('aria-describedby')).toBe(false);
    expect((within(group).getByRole('checkbox', { name: 'Substance-use treatment (42 CFR Part 2)' }) as HTMLInputElement).checked).toBe(false);
    expect((within(group).getByRole('checkbox', { name: 'Psychotherapy notes' }) as HTMLInputElement).checked).toBe(true);
  });

  it('puts the error inside the group, after the legend and hint, before the options, and describes the group by both', async () => {
    const { body } = await render('choices', { ...severity, errors: { severity: 'Choose how serious it is' } });
    const group = within(body).getByRole('group', { name: 'How serious is it?', description: describedBy('Pick one', 'Choose how serious it is') });
    const error = body.querySelector('#severity-error')!;
    expect(group.contains(error)).toBe(true);
    expect(groupOf(group).classList.contains('usa-form-group--error')).toBe(true);
    expect(before(body.querySelector('#severity-hint')!, error)).toBe(true);
    expect(before(error, within(group).getAllByRole('radio')[0]!)).toBe(true);
  });

  it('shows hostile labels and values as text', async () => {
    const { html, body } = await render('choices', {
      name: 'tier',
      label: `Legend ${HOSTILE}`,
      hint: `Hint ${HOSTILE}`,
      options: [[HOSTILE, `Option ${HOSTILE}`]],
      values: { tier: HOSTILE },
      errors: { tier: `Error ${HOSTILE}` },
    });
    expectInert(body, html);
    const group = within(body).getByRole('group', { name: `Legend ${HOSTILE}` });
    const radio = within(group).getByRole('radio', { name: `Option ${HOSTILE}` }) as HTMLInputElement;
    expect(radio.value).toBe(HOSTILE);
    expect(radio.checked).toBe(true);
  });
});

describe('partials/error-summary', () => {
  it('renders nothing when there is no error', async () => {
    const { html } = await render('error-summary', {});
    expect(html.trim()).toBe('');
  });

  it('names the problems in an alert titled by its heading, each linking to its field; a form-wide one is text', async () => {
    const errors = { givenName: 'Enter a given name', severity: 'Choose how serious it is', form: 'Nothing was saved' };
    const { body } = await render('error-summary', { errors });
    const alert = within(body).getByRole('alert', { name: 'There are 3 problems' });
    expect(alert.id).toBe('error-summary');
    // Focusable from script, so the page moves focus to it after a failed post.
    expect(alert.getAttribute('tabindex')).toBe('-1');
    const links = within(alert).getAllByRole('link');
    expect(links.map((a) => [a.textContent, a.getAttribute('href')])).toEqual([
      ['Enter a given name', '#givenName'],
      ['Choose how serious it is', '#severity'],
    ]);
    expect(within(alert).getByText('Nothing was saved').closest('a')).toBeNull();
  });

  it('says "a problem" for one', async () => {
    const { body } = await render('error-summary', { errors: { givenName: 'Enter a given name' } });
    within(body).getByRole('alert', { name: 'There is a problem' });
  });

  it('links to the control of a field and the fieldset of a choice, as those partials render them', async () => {
    const errors = { givenName: 'Enter a given name', severity: 'Choose how serious it is' };
    const parts = await Promise.all([
      render('error-summary', { errors }),
      render('field', { name: 'givenName', label: 'Given name', errors }),
      render('choices', { name: 'severity', label: 'How serious is it?', options: ['high', 'low'], errors }),
    ]);
    const { body } = new JSDOM(parts.map((p) => p.html).join('\n')).window.document;
    const targets = within(within(body).getByRole('alert'))
      .getAllByRole('link')
      .map((a) => body.querySelector(a.getAttribute('href')!));
    expect(targets).toEqual([within(body).getByRole('textbox', { name: 'Given name' }), within(body).getByRole('group', { name: 'How serious is it?' })]);
    // And each target is described by the same words the summary shows.
    expect(targets.map((t) => body.querySelector(`#${t!.id}-error`)!.textContent)).toEqual(['Error: Enter a given name', 'Error: Choose how serious it is']);
  });

  it('shows hostile messages as text and keeps a hostile field name inside its link', async () => {
    const { html, body } = await render('error-summary', { errors: { [HOSTILE]: `Message ${HOSTILE}`, form: `Form ${HOSTILE}` } });
    expectInert(body, html);
    const link = within(body).getByRole('link', { name: `Message ${HOSTILE}` });
    expect(link.getAttribute('href')).toBe(`#${HOSTILE}`);
    within(body).getByText(`Form ${HOSTILE}`);
  });
});

describe('partials/csrf', () => {
  it("carries the request's CSRF token in a hidden field", async () => {
    const { body } = await render('csrf', {}, 'token-123');
    const input = body.querySelector('input')!;
    expect([input.getAttribute('type'), input.getAttribute('name'), input.getAttribute('value')]).toEqual(['hidden', '_csrf', 'token-123']);
    expect(body.children).toHaveLength(1);
  });

  it('escapes whatever the token holds', async () => {
    const { html, body } = await render('csrf', {}, HOSTILE);
    expectInert(body, html);
    expect(body.querySelector('input')!.getAttribute('value')).toBe(HOSTILE);
  });
});

describe('the memorable date (GOV.UK: Day, Month, Year in a fieldset)', () => {
  it('is a group named by its legend with three labelled numeric fields and the hint that shows how to type it', async () => {
    const { body } = await render('date', { name: 'dob', label: 'Date of birth' });
    const group = within(body).getByRole('group', { name: 'Date of birth' });
    expect(group.getAttribute('aria-describedby')).toBe('dob-hint');
    expect(body.querySelector('#dob-hint')!.textContent).toBe('For example, 3 2 1985');
    for (const [label, name] of [
      ['Day', 'dob-day'],
      ['Month', 'dob-month'],
      ['Year', 'dob-year'],
    ]) {
      const input = within(group).getByLabelText(label!) as HTMLInputElement;
      expect(input.name).toBe(name);
      expect(input.getAttribute('inputmode')).toBe('numeric');
      expect(input.getAttribute('aria-invalid')).toBeNull();
    }
  });

  it('an error names what is wrong, marks only the missing part, and keeps what was typed (escaped)', async () => {
    const { body } = await render('date', {
      name: 'dob',
      label: 'Date of birth',
      errors: { dob: 'Date of birth must include a year', 'dob-parts': 'year' },
      values: { 'dob-day': '3', 'dob-month': HOSTILE },
    });
    const group = within(body).getByRole('group', { name: 'Date of birth' });
    expect(group.getAttribute('aria-describedby')).toBe('dob-hint dob-error');
    expect(body.querySelector('#dob-error')!.textContent).toBe('Error: Date of birth must include a year');
    expect((within(group).getByLabelText('Day') as HTMLInputElement).value).toBe('3');
    expect((within(group).getByLabelText('Month') as HTMLInputElement).value).toBe(HOSTILE);
    expect(within(group).getByLabelText('Year').getAttribute('aria-invalid')).toBe('true');
    expect(within(group).getByLabelText('Day').getAttribute('aria-invalid')).toBeNull();
    expect(body.querySelector('script, img')).toBeNull();
  });

  it('the error summary lists the date once (not the marked parts)', async () => {
    const { body } = await render('error-summary', { errors: { dob: 'Enter a real date of birth', 'dob-parts': 'day month year' } });
    expect(
      within(body)
        .getAllByRole('listitem')
        .map((li) => li.textContent),
    ).toEqual(['Enter a real date of birth']);
  });

  it('reads the three fields as an ISO date, or says in plain words what is wrong', () => {
    const read = (day: string, month: string, year: string, options = {}) =>
      dateField({ 'dob-day': day, 'dob-month': month, 'dob-year': year }, 'dob', 'date of birth', options);
    expect(read('3', '2', '1985').iso).toBe('1985-02-03');
    expect(read('03', '02', '1985').iso).toBe('1985-02-03');
    expect(read('3', '2', '').error).toBe('Date of birth must include a year');
    expect(read('', '2', '').error).toBe('Date of birth must include a day and a year');
    expect(read('31', '2', '1985').error).toBe('Enter a real date of birth');
    expect(read('3', '2', '85').error).toBe('Enter a real date of birth');
    expect(read('x', '2', '1985').error).toBe('Enter a real date of birth');
    expect(read('1', '1', '2999', { past: true }).error).toBe('Date of birth must be in the past');
    expect(read('', '', '').error).toBe('Enter the date of birth');
    expect(read('', '', '', { optional: true })).toEqual({ values: { 'dob-day': '', 'dob-month': '', 'dob-year': '' } });
  });
});

describe('dates and times in words', () => {
  it('shows calendar dates in full, and instants in the deployment’s zone with the zone named', () => {
    expect(date('1985-02-03')).toBe('3 February 1985');
    const at = new Date('2026-01-15T02:50:00Z');
    try {
      useTimeZone('America/New_York');
      expect(stamp(at)).toBe('14 January 2026 at 21:50 EST');
      expect(day(at)).toBe('14 January 2026');
      useTimeZone('UTC');
      expect(stamp(at)).toBe('15 January 2026 at 02:50 UTC');
      expect(personWords({ givenName: 'Ada', familyName: 'Lovelace', birthDate: '1985-02-03' })).toBe('Ada Lovelace, born 3 February 1985');
    } finally {
      useTimeZone('UTC');
    }
  });
});
