import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe as vitestDescribe, expect, it } from 'vitest';
import { sealAndCheckpoint } from '../../src/audit/seal.js';
import { totpCode } from '../../src/auth/totp.js';
import { seedDemo } from '../../src/db/seed/demo.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { openTestDatabase, type TestDatabase } from '../helpers/db.js';
import { browserSuiteRuns, launch, person, review, signIn } from './browser.js';

// The web console as people use it: real headless Chromium against the real app on a real
// socket, elements found by their accessible names, an axe-core scan and a screenshot of every
// screen. The same file runs on PGlite and on PostgreSQL.

const PASSWORD = 'console-e2e-password';
let database: TestDatabase;
let t: TestApp;
let server: Server;
let base: string;
let browser: Browser;
let ada: string;
let edsger: string;

const log = (sql: string, params: unknown[] = []) => database.admin(sql, params).then((r) => r.rows);
const flash = (page: Page) => page.getByRole('status').first();
// Generous waits: CI runs this file on both databases at once, beside the rest of the suite.
const poll = <T>(fn: () => Promise<T> | T, timeout = 15_000) => expect.poll(fn, { timeout });
/** Ticks a radio or checkbox from the keyboard (USWDS draws its own; the input itself is off-screen). */
async function tick(box: Locator) {
  await box.focus();
  await box.press('Space');
  expect(await box.isChecked()).toBe(true);
}

/** Types a date as its hint shows ("For example, 3 2 1985"): day, month and year in the named fieldset. */
async function fillDate(page: Page, group: string, iso: string) {
  const [year, month, day] = iso.split('-').map((n) => String(Number(n)));
  const fields = page.getByRole('group', { name: group });
  await fields.getByLabel('Day').fill(day!);
  await fields.getByLabel('Month').fill(month!);
  await fields.getByLabel('Year').fill(year!);
}

/** The page's heading names whom it acts on, in its caption ("Ada Lovelace, born 3 February 1985"). */
const names = (page: Page, who: string | RegExp) => poll(() => page.getByRole('heading', { level: 1 }).textContent()).toMatch(who);
const ADA = 'Ada Lovelace, born 3 February 1985';
const EDSGER = /^Edsger Dijkstra, born \d{1,2} [A-Z][a-z]+ \d{4}/;
const BARBARA = 'Barbara Liskov, born 7 November 1939';

// Without chromium (and outside CI) every test here is skipped, with a line saying how to run them.
const runs = browserSuiteRuns();
const describe = runs ? vitestDescribe : vitestDescribe.skip;

beforeAll(async () => {
  if (!runs) return;
  database = await openTestDatabase();
  t = await createTestApp(database.app);
  await seedDemo(t.deps.db, PASSWORD);
  server = createServer(t.app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  browser = await launch();
  const ids = await log(`SELECT id, family_name FROM subjects`);
  ada = ids.find((r) => r.family_name === 'Lovelace')!.id as string;
  edsger = ids.find((r) => r.family_name === 'Dijkstra')!.id as string;
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => server?.close(resolve));
  await database?.close();
});

describe('console: the clerk on a live call', { timeout: 120_000 }, () => {
  it('signs in, searches by name and date of birth, and sees Ada’s risk flags first, severity in words, with the tier and basis in plain words and the 42 CFR 2.32 notice that comes with her substance-use record', async () => {
    const { page, context, problems } = await person(browser, base);
    await page.goto('/');
    await poll(() => page.url()).toMatch(/\/sign-in$/);
    await review(page, '01-sign-in');

    await page.getByLabel('Username').fill('clerk@metro-police');
    await page.getByLabel('Password').fill(PASSWORD);
    const started = Date.now();
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('link', { name: 'Find a person' }).first().click();
    await page.getByLabel('Name').fill('Lovelace');
    await fillDate(page, 'Date of birth', '1985-02-03');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('link', { name: 'Ada Lovelace' }).click();
    const flags = page.getByRole('region', { name: 'Risk flags' }).or(page.locator('section[aria-labelledby="risk-heading"]'));
    await flags.getByText('High risk').waitFor();
    const toFlags = Date.now() - started;
    // The person page's own navigation, from the browser's Performance API.
    const nav = await page.evaluate(() => {
      const e = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming;
      return { response: Math.round(e.responseEnd - e.requestStart), loaded: Math.round(e.loadEventEnd - e.startTime) };
    });

    // Risk flags come first on the page, ordered by severity and named in words.
    const headings = await page.getByRole('heading', { level: 2 }).allTextContents();
    // Risk flags first: a call is live; what the tier is comes after the facts that keep people safe.
    expect(headings[0]).toBe('Risk flags');
    expect(headings.indexOf('Risk flags')).toBeLessThan(headings.indexOf('What you are shown'));
    expect(headings.indexOf('Risk flags')).toBeLessThan(headings.indexOf('Records shared with you'));
    expect(headings).toEqual(expect.arrayContaining(['De-escalation notes', 'Preferred responder']));
    await poll(() => page.getByText('Calm voice, no uniforms at the door').count()).toBe(1);
    // The tier and its basis in words; the withheld tier named without a hint of what it holds.
    const access = page.getByRole('region', { name: 'What you are shown' });
    await poll(() => access.textContent()).toMatch(/Intermediate, by consent of \d+ \w+ \d{4} from Harbor Mental Health, valid until \d+ \w+ \d{4}/);
    await poll(() => access.textContent()).toMatch(/Not shared with you: Full\. This does not say whether such records exist\./);
    // Ada's substance-use record from Harbor MH reaches the police by consent: 42 CFR 2.32's Statement 1 comes with it.
    await poll(() => access.textContent()).toMatch(/substance-use treatment records under 42 CFR part 2/);
    const notice = page.getByRole('region', { name: 'Confidential substance-use records: 42 CFR part 2' });
    await poll(() => notice.textContent()).toMatch(/These rules prohibit you from using or disclosing this record/);
    await review(page, '02-clerk-person');

    // Page weight of the person page: first load (cold cache) and a reload (cached assets).
    const weigh = async () => {
      const cdp = await context.newCDPSession(page);
      await cdp.send('Network.enable');
      let bytes = 0;
      cdp.on('Network.loadingFinished', (e: { encodedDataLength: number }) => (bytes += e.encodedDataLength));
      return { cdp, total: () => bytes };
    };
    const fresh = await browser.newContext({ baseURL: base });
    const cold = await fresh.newPage();
    await signIn(cold, 'clerk@metro-police', PASSWORD);
    const coldCdp = await fresh.newCDPSession(cold);
    await coldCdp.send('Network.enable');
    await coldCdp.send('Network.clearBrowserCache');
    let coldBytes = 0;
    coldCdp.on('Network.loadingFinished', (e: { encodedDataLength: number }) => (coldBytes += e.encodedDataLength));
    await cold.goto(`/people/${ada}`, { waitUntil: 'networkidle' });
    const w = await weigh();
    await page.goto(`/people/${ada}`, { waitUntil: 'networkidle' });
    const warmBytes = w.total();
    await fresh.close();
    console.error(
      `[measure] sign-in to Ada's risk flags: ${toFlags} ms (person page: response ${nav.response} ms, loaded ${nav.loaded} ms); person page weight: first load ${coldBytes} bytes, cached ${warmBytes} bytes`,
    );
    expect(toFlags).toBeLessThan(20_000);
    expect(warmBytes).toBeLessThan(coldBytes);

    // The cookies hold only an opaque id and the signed CSRF token, out of scripts' reach.
    const cookies = await context.cookies();
    expect(cookies.map((c) => c.name).sort()).toEqual(['tiergate.csrf', 'tiergate.sid']);
    for (const cookie of cookies) expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
    expect(await page.evaluate(() => document.cookie)).toBe('');
    expect(problems).toEqual([]);
    await context.close();
  });

  it('is never offered what a clinician does, and a forged post (no CSRF token, or the clinician’s route) is refused, logged and changes nothing', async () => {
    const { page, context } = await person(browser, base);
    await signIn(page, 'clerk@metro-police', PASSWORD);
    await review(page, '03-clerk-home');
    await page.goto(`/people/${ada}`);
    for (const name of ['Add an entry', 'Consents', 'Open a case', 'Emergency access (break glass)', 'Add a risk flag', 'Add a person']) {
      expect(await page.getByRole('link', { name }).count(), name).toBe(0);
    }
    const entriesBefore = (await log(`SELECT count(*)::int AS n FROM clinical_entries`))[0]!.n;

    // No CSRF token: refused before any route runs, and logged as a denial.
    const noToken = await page.evaluate(
      (url) =>
        fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'kind=note&tier=full&summary=forged' }).then(
          (r) => r.status,
        ),
      `/people/${ada}/entries`,
    );
    expect(noToken).toBe(403);
    expect(await log(`SELECT reason FROM access_log WHERE actor_username = 'clerk@metro-police' AND reason = 'csrf-token-invalid'`)).toHaveLength(1);

    // A valid token from the clerk's own page, posted to the clinician's route: the decision point refuses and logs it.
    const token = await page.locator('input[name="_csrf"]').first().inputValue();
    const forged = await page.evaluate(
      ([url, csrf]) =>
        fetch(url!, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: `_csrf=${csrf}&kind=note&tier=full&summary=forged`,
        }).then((r) => r.status),
      [`/people/${ada}/entries`, token],
    );
    expect(forged).toBe(403);
    expect(await log(`SELECT action, reason, subject_id FROM access_log WHERE actor_username = 'clerk@metro-police' AND action = 'entry.create'`)).toEqual([
      { action: 'entry.create', reason: 'no-rule:create:Entry', subject_id: null },
    ]);
    await page.goto(`/people/new`);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Not allowed');
    await page.goto('/compliance/approvals');
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Not allowed');
    await review(page, '04-not-allowed');
    expect((await log(`SELECT count(*)::int AS n FROM clinical_entries`))[0]!.n).toBe(entriesBefore);
    await context.close();
  });
});

describe('console: a search with too many matches', { timeout: 120_000 }, () => {
  it('shows the first 20 and says more match; a search with fewer matches says nothing of the kind', async () => {
    const [owner] = await log(`SELECT agency_id, id FROM users WHERE username = 'clinician@harbor-mh'`);
    for (let i = 0; i < 21; i++) {
      await log(
        `INSERT INTO subjects (given_name, family_name, birth_date, sex, agency_id, created_by) VALUES ($1, 'Hopper', '1906-12-09', 'female', $2, $3)`,
        [`Grace${String.fromCharCode(97 + i)}`, owner!.agency_id, owner!.id],
      );
    }
    const { page, context } = await person(browser, base);
    await signIn(page, 'clerk@metro-police', PASSWORD);
    const search = async (name: string, dob: string) => {
      await page.goto('/people');
      await page.getByLabel('Name').fill(name);
      await fillDate(page, 'Date of birth', dob);
      await page.getByRole('button', { name: 'Search' }).click();
    };
    await search('Hopper', '1906-12-09');
    await page.getByText('More than 20 people match; refine the search.').waitFor();
    await poll(() => page.getByRole('link', { name: /Hopper$/ }).count()).toBe(20);
    await review(page, '02b-clerk-search-truncated');
    await search('Lovelace', '1985-02-03');
    await page.getByRole('heading', { name: '1 person found' }).waitFor();
    expect(await page.getByText(/refine the search/).count()).toBe(0);
    await context.close();
  });
});

describe('console: a date typed as its hint shows', { timeout: 120_000 }, () => {
  it('finds Ada from “3 2 1985” in Day, Month, Year; a date without a year, or not a real one, is refused in plain words and keeps what was typed', async () => {
    const { page, context, problems } = await person(browser, base);
    await signIn(page, 'clerk@metro-police', PASSWORD);
    await page.goto('/people');
    const dob = page.getByRole('group', { name: 'Date of birth' });
    await dob.getByText('For example, 3 2 1985').waitFor();
    await page.getByLabel('Name').fill('Lovelace');
    await dob.getByLabel('Day').fill('3');
    await dob.getByLabel('Month').fill('2');
    await page.getByRole('button', { name: 'Search' }).click();
    const summary = page.getByRole('alert').filter({ hasText: 'There is a problem' });
    await summary.getByRole('link', { name: 'Date of birth must include a year' }).waitFor();
    expect(await dob.getByLabel('Day').inputValue()).toBe('3');
    expect(await dob.getByLabel('Month').inputValue()).toBe('2');
    expect(await dob.getByLabel('Year').getAttribute('aria-invalid')).toBe('true');
    expect(await page.getByLabel('Name').inputValue()).toBe('Lovelace');
    await review(page, '02c-clerk-search-date-error');

    await dob.getByLabel('Day').fill('31');
    await dob.getByLabel('Year').fill('1985');
    await page.getByRole('button', { name: 'Search' }).click();
    await summary.getByRole('link', { name: 'Enter a real date of birth' }).waitFor();

    await dob.getByLabel('Day').fill('3');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('heading', { name: '1 person found' }).waitFor();
    await poll(() => page.getByRole('listitem').filter({ hasText: 'Ada Lovelace' }).textContent()).toMatch(/born 3 February 1985/);
    expect(problems).toEqual([]);
    await context.close();
  });
});

describe('console: the clerk’s home is the search, and focus goes where the job starts', { timeout: 120_000 }, () => {
  it('lands on the search with the name field focused; after a search focus is on the results heading; after an error on the error summary', async () => {
    const { page, context, problems } = await person(browser, base);
    await signIn(page, 'clerk@metro-police', PASSWORD);
    await poll(() => page.url()).toBe(`${base}/`);
    await page.getByRole('heading', { name: 'Find a person', level: 1 }).waitFor();
    const focused = () => page.evaluate(() => document.activeElement?.id ?? '');
    await poll(focused).toBe('name');
    await review(page, '02d-clerk-home-is-search');
    // Typed straight away, without a Tab: the name field has the focus.
    await page.keyboard.type('Lovelace');
    await fillDate(page, 'Date of birth', '1985-02-03');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('heading', { name: '1 person found' }).waitFor();
    await poll(focused).toBe('results-heading');
    await page.getByLabel('Name').fill('Lovelace');
    await page.getByRole('group', { name: 'Date of birth' }).getByLabel('Year').fill('');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('alert').filter({ hasText: 'There is a problem' }).waitFor();
    await poll(focused).toBe('error-summary');
    await review(page, '02e-clerk-search-error-focus');
    expect(problems).toEqual([]);
    await context.close();
  });
});

describe('console: the search keeps its terms out of URLs', { timeout: 120_000 }, () => {
  it('posts name and date of birth: no URL the browser requests, lands on or keeps in its history holds them, and an old GET link with them searches nothing', async () => {
    const { page, context } = await person(browser, base);
    const urls: string[] = [];
    page.on('request', (r) => urls.push(r.url()));
    page.on('framenavigated', (f) => urls.push(f.url()));
    await signIn(page, 'clerk@metro-police', PASSWORD);
    await page.goto('/people');
    await page.getByLabel('Name').fill('Lovelace');
    await fillDate(page, 'Date of birth', '1985-02-03');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('link', { name: 'Ada Lovelace' }).click();
    await page.getByRole('heading', { name: 'Ada Lovelace', level: 1 }).waitFor();
    await page.goBack();
    await page.getByLabel('Name').waitFor();
    const history = await page.evaluate(() => location.href);
    urls.push(history);
    expect(urls.some((u) => u.endsWith('/people/search'))).toBe(true);
    expect(urls.filter((u) => /lovelace|1985/i.test(u))).toEqual([]);

    // An old bookmark with the terms: sent to the empty form, and nothing is searched or logged.
    const before = (await log(`SELECT count(*)::int AS n FROM access_log WHERE action = 'subject.search'`))[0]!.n;
    await page.goto('/people?name=Lovelace&dob=1985-02-03');
    await poll(() => page.url()).toBe(`${base}/people`);
    expect(await page.getByLabel('Name').inputValue()).toBe('');
    expect((await log(`SELECT count(*)::int AS n FROM access_log WHERE action = 'subject.search'`))[0]!.n).toBe(before);
    await context.close();
  });
});

describe('console: the officer', { timeout: 120_000 }, () => {
  it('adds a risk flag; bad input shows the error next to the field and in the summary, keeps what was typed, and changes nothing', async () => {
    const { page, context } = await person(browser, base);
    await signIn(page, 'officer@metro-police', PASSWORD);
    await page.goto(`/people/${edsger}`);
    await page.getByRole('link', { name: 'Add a risk flag' }).click();
    await names(page, EDSGER);
    await page.getByLabel('Risk', { exact: true }).fill('Not A Code');
    await page.getByLabel('Note').fill('Dog in the yard');
    const before = (await log(`SELECT count(*)::int AS n FROM risk_flags`))[0]!.n;
    await page.getByRole('button', { name: 'Add risk flag' }).click();
    const summary = page.getByRole('alert').filter({ hasText: 'There are 2 problems' });
    await summary.waitFor();
    await poll(() => page.getByLabel('Note').inputValue()).toBe('Dog in the yard');
    await poll(() => page.getByLabel('Risk', { exact: true }).getAttribute('aria-invalid')).toBe('true');
    await names(page, EDSGER);
    await review(page, '05-officer-flag-errors');
    await summary.getByRole('link', { name: 'Choose how serious the risk is' }).click();
    expect((await log(`SELECT count(*)::int AS n FROM risk_flags`))[0]!.n).toBe(before);

    await page.getByLabel('Risk', { exact: true }).fill('dog-on-premises');
    await tick(page.getByRole('radio', { name: 'Medium risk' }));
    await page.getByRole('button', { name: 'Add risk flag' }).click();
    await poll(() => flash(page).textContent()).toMatch(/^Risk flag “dog on premises” added for Edsger Dijkstra, born \d{1,2} [A-Z][a-z]+ \d{4}\.$/);
    await poll(() => page.getByText('Dog in the yard').count()).toBe(1);
    await context.close();
  });
});

describe('console: adding someone who is already recorded', { timeout: 120_000 }, () => {
  it('shows the people already recorded side by side (how alike, who added each, risk flags); "a different person, because …" creates the person and remembers the decision', async () => {
    const { page, context } = await person(browser, base);
    await signIn(page, 'clinician@harbor-mh', PASSWORD);
    const before = Number((await log(`SELECT count(*)::int AS n FROM subjects`))[0]!.n);
    await page.goto('/people/new');
    await page.getByLabel('Given name').fill('Ada');
    await page.getByLabel('Family name').fill('Lovelace');
    await fillDate(page, 'Date of birth', '1985-03-02');
    await page.getByLabel('Sex').selectOption('female');
    await page.getByRole('button', { name: 'Add person' }).click();
    const table = page.getByRole('table', { name: 'Possible matches, best first' });
    await table.waitFor();
    const row = table.getByRole('row').filter({ hasText: 'Ada Lovelace' });
    await poll(() => row.textContent()).toMatch(/3 February 1985.*(Certainly|Probably) the same person.*harbor-mh/s);
    expect((await log(`SELECT count(*)::int AS n FROM subjects`))[0]!.n).toBe(before);
    await review(page, '05b-clinician-possible-duplicate');

    // Ticking none of them and giving no reason: refused again, nothing added.
    await page.getByRole('button', { name: 'Add as a different person' }).click();
    await table.waitFor();
    expect((await log(`SELECT count(*)::int AS n FROM subjects`))[0]!.n).toBe(before);

    await tick(page.getByRole('checkbox', { name: /Ada Lovelace, born 3 February 1985/ }));
    await page.getByLabel('Why this is a different person').fill('Her cousin of the same name, checked with the family');
    await page.getByRole('button', { name: 'Add as a different person' }).click();
    await poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Ada Lovelace');
    expect((await log(`SELECT count(*)::int AS n FROM subjects`))[0]!.n).toBe(before + 1);
    expect(await log(`SELECT reason FROM not_duplicate_decisions WHERE $1 IN (subject_low, subject_high)`, [ada])).toEqual([
      { reason: 'Her cousin of the same name, checked with the family' },
    ]);
    await context.close();
  });
});

describe('console: the clinician', { timeout: 180_000 }, () => {
  it('creates a person, adds an entry, records a consent after a plain-language preview, and opens and staffs a case; another agency’s member is not removable, the doctor joins from City Hospital, and only the owner closes it', async () => {
    const { page, context, problems } = await person(browser, base);
    await signIn(page, 'clinician@harbor-mh', PASSWORD);
    await page.getByRole('link', { name: 'Add a person' }).first().click();
    // One navigation item is current, though /people/new is also under /people.
    await page.getByRole('heading', { name: 'Add a person', level: 1 }).waitFor();
    expect(await page.getByRole('navigation', { name: 'Primary' }).locator('[aria-current="page"]').allTextContents()).toEqual(['Add a person']);
    await page.getByLabel('Given name').fill('Barbara');
    await page.getByLabel('Family name').fill('Liskov');
    await fillDate(page, 'Date of birth', '2999-01-01');
    await page.getByLabel('Sex').selectOption('female');
    await page.getByRole('button', { name: 'Add person' }).click();
    await page.getByRole('alert').filter({ hasText: 'There is a problem' }).waitFor();
    expect(await page.getByLabel('Given name').inputValue()).toBe('Barbara');
    await review(page, '06-clinician-new-person-error');
    await fillDate(page, 'Date of birth', '1939-11-07');
    await page.getByRole('button', { name: 'Add person' }).click();
    await poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Barbara Liskov');

    await page.getByRole('link', { name: 'Add an entry' }).click();
    await names(page, BARBARA);
    await page.getByLabel('Kind of entry').selectOption('diagnosis');
    await tick(page.getByRole('radio', { name: 'Intermediate' }));
    await tick(page.getByRole('checkbox', { name: /Substance-use/ }));
    await page.getByLabel('Summary').fill('Alcohol use disorder, in remission');
    await review(page, '07-clinician-entry');
    await page.getByRole('button', { name: 'Add entry' }).click();
    await poll(() => flash(page).textContent()).toBe(`Entry “Alcohol use disorder, in remission” added for ${BARBARA}.`);
    await poll(() => page.getByRole('cell', { name: 'Alcohol use disorder, in remission' }).count()).toBe(1);

    await page.getByRole('link', { name: 'Consents' }).click();
    await names(page, BARBARA);
    await page.getByRole('link', { name: 'Record a consent' }).click();
    await names(page, BARBARA);
    await page.getByLabel('Recipient agencies').fill('city-hospital');
    await tick(page.getByRole('checkbox', { name: 'Police agencies' }));
    await tick(page.getByRole('radio', { name: /Verbally/ }));
    await page.getByRole('button', { name: 'Continue' }).click();
    // Verbal consent without a witness: the error is on the witness field.
    await page
      .getByRole('alert')
      .filter({ hasText: 'There is a problem' })
      .getByRole('link', { name: /witness/i })
      .waitFor();
    await names(page, BARBARA);
    await page.getByLabel(/^Witness/).fill('J. Ortiz, nurse');
    await fillDate(page, 'Valid until', '2027-06-30');
    await review(page, '08-clinician-consent-form');
    await page.getByRole('button', { name: 'Continue' }).click();
    const preview = page.getByRole('region', { name: 'What this consent releases, to whom' });
    await poll(() => preview.textContent()).toMatch(/city-hospital and every police agency will see Barbara Liskov’s intermediate-tier records/);
    await poll(() => preview.textContent()).toMatch(/Substance-use treatment records and psychotherapy notes stay withheld/);
    expect((await log(`SELECT count(*)::int AS n FROM consents c JOIN subjects s ON s.id = c.subject_id WHERE s.family_name = 'Liskov'`))[0]!.n).toBe(0);
    await names(page, BARBARA);
    await review(page, '09-clinician-consent-check');
    await page.getByRole('button', { name: 'Save consent' }).click();
    await poll(() => flash(page).textContent()).toBe(`Consent recorded for ${BARBARA}. It takes effect at once.`);
    await poll(() => page.getByRole('cell', { name: 'active' }).count()).toBe(1);
    await review(page, '10-clinician-consents');

    await page.getByRole('link', { name: 'Back to the person' }).click();
    await page.getByRole('link', { name: 'Open a case' }).click();
    await names(page, BARBARA);
    await page.getByLabel('Case title').fill('Crisis follow-up');
    await page.getByRole('button', { name: 'Open case' }).click();
    await poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Crisis follow-up');
    await poll(() => flash(page).textContent()).toBe(`Case “Crisis follow-up” opened for ${BARBARA}. You are on its team.`);
    await page.getByLabel('Username').fill('nobody@nowhere');
    await page.getByRole('button', { name: 'Add member' }).click();
    await poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Not found');
    await page.goBack();
    await page.getByLabel('Username').fill('doctor@city-hospital');
    await page.getByRole('button', { name: 'Add member' }).click();
    await poll(() => page.getByRole('cell', { name: 'doctor@city-hospital', exact: true }).count()).toBe(1);
    await review(page, '11-clinician-case');
    const caseUrl = new URL(page.url()).pathname;
    const doctorId = (await log(`SELECT id FROM users WHERE username = 'doctor@city-hospital'`))[0]!.id as string;
    // A member removes only its own agency's members: not offered, and a forged post is refused and logged.
    expect(await page.getByRole('button', { name: 'Remove doctor@city-hospital' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: /records into the case/ }).count()).toBe(0);
    const token = await page.locator('input[name="_csrf"]').first().inputValue();
    const forged = await page.evaluate(
      ([url, csrf]) =>
        fetch(url!, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `_csrf=${csrf}` }).then((r) => r.status),
      [`${caseUrl}/members/${doctorId}/remove`, token],
    );
    expect(forged).toBe(403);
    expect(
      await log(`SELECT reason FROM access_log WHERE actor_username = 'clinician@harbor-mh' AND action = 'case.member.remove' AND decision = 'deny'`),
    ).toEqual([{ reason: 'no-rule:remove:CaseMember' }]);
    await page.reload();
    await poll(() => page.getByRole('cell', { name: 'doctor@city-hospital', exact: true }).count()).toBe(1);

    // The doctor joins the case from City Hospital, bringing its records in; only the owning agency closes.
    const doctor = await person(browser, base);
    await signIn(doctor.page, 'doctor@city-hospital', PASSWORD);
    await doctor.page.goto(caseUrl);
    expect(await doctor.page.getByRole('button', { name: 'Close case' }).count()).toBe(0);
    await doctor.page.getByRole('button', { name: 'Bring city-hospital’s records into the case' }).click();
    await poll(() => flash(doctor.page).textContent()).toMatch(/city-hospital now takes part in the case/);
    await poll(() => doctor.page.getByRole('list').filter({ hasText: 'harbor-mh, since' }).textContent()).toMatch(/city-hospital, since/);
    expect(await doctor.page.getByRole('button', { name: /records into the case/ }).count()).toBe(0);
    await review(doctor.page, '11b-doctor-joins-case');
    await doctor.context.close();

    // Closing cannot be undone: a confirmation page names the person and the consequence, and
    // the box left empty closes nothing.
    await page.reload();
    await page.getByRole('button', { name: 'Close case' }).click();
    await poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe(`${BARBARA} Close the case “Crisis follow-up”?`);
    await page.getByText('A closed case cannot be reopened. The team loses the full tier at once.').waitFor();
    await review(page, '11c-clinician-close-confirm');
    await page.getByRole('button', { name: 'Close case' }).click();
    await page
      .getByRole('alert')
      .filter({ hasText: 'There is a problem' })
      .getByRole('link', { name: /Tick “Yes, close this case”/ })
      .waitFor();
    expect(await log(`SELECT status FROM cases WHERE title = 'Crisis follow-up'`)).toEqual([{ status: 'open' }]);
    await tick(page.getByRole('checkbox', { name: 'Yes, close this case' }));
    await page.getByRole('button', { name: 'Close case' }).click();
    await poll(() => flash(page).textContent()).toBe(`Case “Crisis follow-up” closed for ${BARBARA}. Its team no longer has full-tier access.`);
    expect(await log(`SELECT status FROM cases WHERE title = 'Crisis follow-up'`)).toEqual([{ status: 'closed' }]);
    expect(problems).toEqual([]);
    await context.close();
  });

  it('a consent naming an unknown agency comes back to the form with the error at the recipients, and nothing is saved', async () => {
    const { page, context } = await person(browser, base);
    await signIn(page, 'clinician@harbor-mh', PASSWORD);
    await page.goto(`/people/${edsger}/consents/new`);
    await page.getByLabel('Recipient agencies').fill('no-such-agency');
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('button', { name: 'Save consent' }).click();
    const summary = page.getByRole('alert').filter({ hasText: 'There is a problem' });
    await summary.getByRole('link', { name: /unknown agency no-such-agency/ }).waitFor();
    expect(await page.getByLabel('Recipient agencies').inputValue()).toBe('no-such-agency');
    expect(await log(`SELECT id FROM consents WHERE subject_id = $1`, [edsger])).toEqual([]);
    await context.close();
  });

  it('breaks the glass through a reason and a check step, then sees the time left; a second declaration while it is live is refused at the reason, then renewed with a new reason', async () => {
    const { page, context } = await person(browser, base);
    await signIn(page, 'doctor@city-hospital', PASSWORD);
    await page.goto(`/people/${edsger}`);
    await page.getByRole('link', { name: 'Emergency access (break glass)' }).click();
    await names(page, EDSGER);
    await page.getByLabel('Reason for emergency access').fill('short');
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('alert').filter({ hasText: 'There is a problem' }).waitFor();
    expect(await page.getByLabel('Reason for emergency access').inputValue()).toBe('short');
    await page.getByLabel('Reason for emergency access').fill('Unresponsive in the emergency department, no history');
    await page.getByRole('button', { name: 'Continue' }).click();
    await names(page, EDSGER);
    await review(page, '12-break-glass-check');
    expect((await log(`SELECT count(*)::int AS n FROM break_glass_grants WHERE subject_id = $1`, [edsger]))[0]!.n).toBe(0);
    await page.getByRole('button', { name: 'Confirm emergency access' }).click();
    const access = page.getByRole('region', { name: 'What you are shown' });
    await poll(() => access.textContent()).toMatch(/Intermediate, by your emergency access \(break glass\), 60 minutes left/);
    await poll(() => access.textContent()).toMatch(/Emergency access: 60 minutes left/);
    await review(page, '13-break-glass-granted');

    // A second declaration while the grant is live is refused at the reason (409, logged), and changes nothing.
    const grants = async () => (await log(`SELECT count(*)::int AS n FROM break_glass_grants WHERE subject_id = $1`, [edsger]))[0]!.n;
    await page.goto(`/people/${edsger}/break-glass`);
    await page.getByLabel('Reason for emergency access').fill('Seizing again in resuscitation, medication history needed');
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('button', { name: 'Confirm emergency access' }).click();
    const refused = page.getByRole('alert').filter({ hasText: 'There is a problem' });
    await refused.getByRole('link', { name: /still live/ }).waitFor();
    expect(await page.getByLabel('Reason for emergency access').inputValue()).toBe('Seizing again in resuscitation, medication history needed');
    expect(await grants()).toBe(1);
    expect(
      await log(`SELECT reason FROM access_log WHERE actor_username = 'doctor@city-hospital' AND action = 'break-glass.declare' AND decision = 'deny'`),
    ).toEqual([{ reason: 'break-glass-live' }]);
    await review(page, '13b-break-glass-live');
    // Renewal, offered with the refusal, with the new reason: flagged as a renewal.
    expect(await page.getByRole('checkbox', { name: 'Renew my live emergency access' }).isChecked()).toBe(true);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('button', { name: 'Confirm emergency access' }).click();
    await poll(() => flash(page).textContent()).toMatch(
      /^Emergency access renewed to Edsger Dijkstra, born \d{1,2} [A-Z][a-z]+ \d{4}, at the Intermediate tier until/,
    );
    expect(await grants()).toBe(2);
    await context.close();
  });

  it('revokes a consent with a reason, and the clerk’s next page load no longer gets what it released, nor the 2.32 notice', async () => {
    const clerk = await person(browser, base);
    await signIn(clerk.page, 'clerk@metro-police', PASSWORD);
    await clerk.page.goto(`/people/${ada}`);
    expect(await clerk.page.getByText('Opioid use disorder, on buprenorphine').count()).toBe(1);

    const { page, context } = await person(browser, base);
    await signIn(page, 'clinician@harbor-mh', PASSWORD);
    await page.goto(`/people/${ada}/consents`);
    await page
      .getByRole('link', { name: /^Revoke/ })
      .first()
      .click();
    await names(page, ADA);
    await review(page, '14a-clinician-revoke');
    await page.getByRole('button', { name: 'Revoke consent' }).click();
    await page.getByRole('alert').filter({ hasText: 'There is a problem' }).waitFor();
    await names(page, ADA);
    await page.getByLabel('Reason').fill('The person withdrew consent by phone');
    await page.getByRole('button', { name: 'Revoke consent' }).click();
    await poll(() => flash(page).textContent()).toBe(`Consent revoked for ${ADA}. From now on no one gets what it released.`);

    await clerk.page.reload();
    const access = clerk.page.getByRole('region', { name: 'What you are shown' });
    await poll(() => access.textContent()).toMatch(/Basic, as a partner agency with a read right/);
    await poll(() => access.textContent()).toMatch(/Not shared with you: Intermediate, Full\./);
    expect(await clerk.page.getByText('Opioid use disorder, on buprenorphine').count()).toBe(0);
    // Nothing of Part 2 is carried any more, so no notice either.
    expect(await clerk.page.getByRole('region', { name: /42 CFR part 2/ }).count()).toBe(0);
    await review(clerk.page, '14-clerk-after-revocation');
    await clerk.context.close();
    await context.close();
  });
});

describe('console: the compliance officer', { timeout: 180_000 }, () => {
  it('filters the access log with cursor paging and CSV, reads an accounting (screen, CSV, FHIR), reviews break glass, verifies the log and sees the activity chart', async () => {
    const { page, context, problems } = await person(browser, base);
    await signIn(page, 'compliance@gateway', PASSWORD);
    await page.getByRole('link', { name: 'Access log' }).first().click();
    await page.getByLabel('Decision').selectOption('deny');
    await page.getByRole('button', { name: 'Filter' }).click();
    const table = page.getByRole('table', { name: /Access-log entries/ });
    await poll(() => table.getByText('csrf-token-invalid').count()).toBeGreaterThan(0);
    await review(page, '15-compliance-log');
    const csv = page.waitForEvent('download');
    await page.getByRole('link', { name: 'Download these entries as CSV' }).click();
    expect((await csv).suggestedFilename()).toBe('access-log.csv');
    await page.getByLabel('Decision').selectOption('');
    await page.getByLabel('Entries per page').selectOption('10');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.getByRole('link', { name: 'Older entries' }).click();
    expect(page.url()).toMatch(/cursor=\d+/);
    await page.getByRole('link', { name: 'Newest entries' }).waitFor();

    await page.goto(`/compliance/people/${ada}/accounting`);
    await poll(() => page.getByRole('table').first().textContent()).toMatch(/clerk@metro-police/);
    await review(page, '16-compliance-accounting');
    for (const [name, file] of [
      ['Download CSV', `disclosures-${ada}.csv`],
      ['Download FHIR AuditEvent bundle', `disclosures-${ada}.fhir.json`],
    ] as const) {
      const download = page.waitForEvent('download');
      await page.getByRole('link', { name }).click();
      expect((await download).suggestedFilename()).toBe(file);
    }

    await page.getByRole('link', { name: 'Break-glass review' }).first().click();
    await page.getByText('Unresponsive in the emergency department, no history').waitFor();
    await review(page, '17-compliance-break-glass');
    await page
      .getByRole('button', { name: /Record review/ })
      .first()
      .click();
    await page.getByRole('alert').filter({ hasText: 'There is a problem' }).waitFor();
    await tick(page.getByRole('radio', { name: 'justified' }).first());
    await page.getByLabel('Note').first().fill('Confirmed with the ED charge nurse');
    await page
      .getByRole('button', { name: /Record review/ })
      .first()
      .click();
    await poll(() => flash(page).textContent()).toMatch(/Review recorded: justified/);

    // The checkpoint the background sealer signs on its schedule (the in-process app runs no sealer; the page signs nothing).
    await sealAndCheckpoint(t.deps.db, t.deps.keys);
    await page.getByRole('link', { name: 'Log integrity' }).first().click();
    await page.getByText(/Latest signed checkpoint/).waitFor();
    await review(page, '18-compliance-integrity');
    await page.getByRole('button', { name: 'Verify the log now' }).click();
    await poll(() => page.getByRole('status').textContent(), 30_000).toMatch(/Verified: all \d+ entries/);
    await review(page, '19-compliance-verified');

    await page.getByRole('link', { name: 'Activity' }).first().click();
    await page.getByRole('img', { name: /Accesses per day over the last 30 days/ }).waitFor();
    await poll(() => page.getByRole('columnheader', { name: 'metro-police allowed' }).count()).toBe(1);
    await review(page, '20-compliance-activity');
    expect(problems).toEqual([]);
    await context.close();
  });
});

describe('console: the operator, the approving compliance officer and a newly invited user', { timeout: 120_000 }, () => {
  it('adds an agency, invites a partner user whose invitation waits; the compliance officer approves it in the console and reads the approval code once; the user enrols with both codes and the QR code, signs in, and after a reset re-enrols with the current password', async () => {
    const { page, context } = await person(browser, base);
    await signIn(page, 'admin@gateway', PASSWORD);
    await page.getByRole('link', { name: 'Agencies' }).first().click();
    await page.getByLabel('Code').fill('county-ems');
    await page.getByLabel('Name').fill('County EMS');
    await page.getByLabel('Kind').selectOption('hospital');
    await page.getByRole('button', { name: 'Add agency' }).click();
    await poll(() => page.getByRole('cell', { name: 'County EMS' }).count()).toBe(1);
    await review(page, '21-admin-agencies');

    await page.getByRole('link', { name: 'Users' }).first().click();
    await page.getByLabel('Username', { exact: true }).fill('medic@county-ems');
    await page.getByLabel('Agency code').fill('county-ems');
    await page.getByLabel('Role', { exact: true }).selectOption({ label: 'social worker (hospital)' });
    await page.getByRole('button', { name: 'Invite user' }).click();
    const code = (await page.locator('[data-enrolment-code]').textContent())!.trim();
    expect(code).toMatch(/^[a-z2-7]{5}(-[a-z2-7]{5}){3}$/);
    // Never broken mid-code: the code is one line.
    expect(await page.locator('[data-enrolment-code]').evaluate((el) => getComputedStyle(el).whiteSpace)).toBe('nowrap');
    // Into a partner agency the invitation waits for a compliance officer.
    await poll(() => page.locator('[data-awaits-approval]').textContent()).toMatch(/waits for a compliance officer’s approval/);
    await poll(() => page.getByRole('row', { name: /medic@county-ems/ }).textContent()).toMatch(/Waiting for approval/);
    await review(page, '22-admin-users');
    // The operator is not offered, and cannot reach, the approvals (two-role rule).
    expect(await page.getByRole('link', { name: 'Approvals' }).count()).toBe(0);
    await page.goto('/compliance/approvals');
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Not allowed');
    await page.getByRole('link', { name: 'Clients' }).first().click();
    await review(page, '23-admin-clients');
    await page.getByRole('link', { name: 'Keys' }).first().click();
    const keysBefore = Number((await log(`SELECT count(*)::int AS n FROM signing_keys`))[0]!.n);
    await page.getByRole('button', { name: 'Rotate the signing key' }).click();
    await page.getByRole('heading', { name: 'Rotate the signing key?', level: 1 }).waitFor();
    await page.getByText('A rotation cannot be undone.').waitFor();
    await review(page, '24a-admin-rotate-confirm');
    expect((await log(`SELECT count(*)::int AS n FROM signing_keys`))[0]!.n).toBe(keysBefore);
    await tick(page.getByRole('checkbox', { name: 'Yes, rotate the signing key' }));
    await page.getByRole('button', { name: 'Rotate the signing key' }).click();
    await poll(() => flash(page).textContent()).toMatch(/new signing key/);
    expect((await log(`SELECT count(*)::int AS n FROM signing_keys`))[0]!.n).toBe(keysBefore + 1);
    await review(page, '24-admin-keys');

    // Before the approval, the operator's code alone enrols no one (the answer does not say why).
    const medic = await person(browser, base);
    const enrol = async (approval: string, password: string, enrolmentCode = code) => {
      await medic.page.goto('/enrol');
      await medic.page.getByLabel('Username').fill('medic@county-ems');
      await medic.page.getByLabel('Enrolment code').fill(enrolmentCode);
      await medic.page.getByLabel('Approval code').fill(approval);
      await medic.page.getByLabel('Password').fill(password);
      await medic.page.getByRole('button', { name: 'Continue' }).click();
    };
    await enrol('', 'a long enough passphrase');
    await medic.page
      .getByRole('alert')
      .filter({ hasText: /a code or the password is not right/ })
      .waitFor();
    expect(await log(`SELECT reason FROM access_log WHERE action = 'mfa.enrol' AND decision = 'deny' ORDER BY seq`)).toEqual([{ reason: 'approval-pending' }]);

    // The compliance officer approves in the console and hands over the approval code.
    const officer = await person(browser, base);
    await signIn(officer.page, 'compliance@gateway', PASSWORD);
    await officer.page.getByRole('link', { name: 'Approvals' }).first().click();
    const request = officer.page.getByRole('region', { name: /The invitation of medic@county-ems into county-ems as social worker/ });
    await request.getByText('admin@gateway').waitFor();
    await request.getByRole('button', { name: /Record decision/ }).click();
    await officer.page.getByRole('alert').filter({ hasText: 'There is a problem' }).getByRole('link', { name: 'Choose approve or reject' }).waitFor();
    expect((await log(`SELECT status FROM approvals WHERE kind = 'user.invite'`))[0]!.status).toBe('pending');
    await review(officer.page, '24b-compliance-approvals');
    await tick(request.getByRole('radio', { name: 'Approve' }));
    await request.getByLabel('Note').fill('Confirmed with the County EMS director');
    await request.getByRole('button', { name: /Record decision/ }).click();
    const approvalCode = (await officer.page.locator('[data-approval-code]').textContent())!.trim();
    expect(approvalCode).toMatch(/^[a-z2-7]{5}(-[a-z2-7]{5}){3}$/);
    expect(approvalCode).not.toBe(code);
    await review(officer.page, '24c-compliance-approval-code');
    // Shown once: the list no longer offers the decided request, nor its code.
    await officer.page.goto('/compliance/approvals');
    await officer.page.getByText('No requests are waiting.').waitFor();
    expect(await officer.page.locator('[data-approval-code]').count()).toBe(0);
    await officer.context.close();

    // Both codes, and a new password of the right length.
    await enrol(approvalCode, 'short');
    await medic.page
      .getByRole('alert')
      .filter({ hasText: 'There is a problem' })
      .getByRole('link', { name: /at least 12 characters/ })
      .waitFor();
    expect(await medic.page.getByLabel('Enrolment code').inputValue()).toBe(code);
    expect(await medic.page.getByLabel('Password').inputValue()).toBe('');
    await enrol(approvalCode, 'a long enough passphrase');
    await medic.page.getByRole('img', { name: /QR code for your authenticator app/ }).waitFor();
    await review(medic.page, '25-enrol-qr');
    const secret = (await medic.page.locator('.console-secret').textContent())!.trim();
    await medic.page.getByLabel('Six-digit code').fill(totpCode(secret));
    await medic.page.getByRole('button', { name: 'Finish set-up' }).click();
    await medic.page.getByText(/Your account is set up/).waitFor();
    // The enrolment code's step was spent at confirmation: sign in with the next step's code.
    await medic.page.getByLabel('Username').fill('medic@county-ems');
    await medic.page.getByLabel('Password').fill('a long enough passphrase');
    await medic.page.getByRole('button', { name: 'Sign in' }).click();
    await medic.page.getByRole('alert').filter({ hasText: 'There is a problem' }).waitFor();
    await signIn(medic.page, 'medic@county-ems', 'a long enough passphrase', totpCode(secret, Date.now() + 30_000));
    await medic.page.getByRole('button', { name: 'Sign out' }).click();
    await medic.page.getByText('You have signed out.').waitFor();

    // A lost authenticator: the operator resets it; re-enrolment proves the current password, which stays.
    await page.goto('/admin/users');
    await page.getByRole('button', { name: 'Reset second factor of medic@county-ems' }).click();
    const again = (await page.locator('[data-enrolment-code]').textContent())!.trim();
    expect(again).not.toBe(code);
    await enrol('', 'not the current password', again);
    await medic.page
      .getByRole('alert')
      .filter({ hasText: /a code or the password is not right/ })
      .waitFor();
    expect(await log(`SELECT reason FROM access_log WHERE action = 'mfa.enrol' AND decision = 'deny' ORDER BY seq`)).toEqual([
      { reason: 'approval-pending' },
      { reason: 'password-invalid' },
    ]);
    await enrol('', 'a long enough passphrase', again);
    await medic.page.getByRole('img', { name: /QR code for your authenticator app/ }).waitFor();
    const renewed = (await medic.page.locator('.console-secret').textContent())!.trim();
    expect(renewed).not.toBe(secret);
    await medic.page.getByLabel('Six-digit code').fill(totpCode(renewed));
    await medic.page.getByRole('button', { name: 'Finish set-up' }).click();
    await medic.page.getByText(/Your account is set up/).waitFor();
    await medic.context.close();
    await context.close();
  });
});

describe('console: what cannot be undone is asked first', { timeout: 120_000 }, () => {
  it('disabling an agency or a user shows the consequence and needs the “Yes, …” box; the box left empty changes nothing', async () => {
    const { page, context } = await person(browser, base);
    await signIn(page, 'admin@gateway', PASSWORD);
    await page.goto('/admin/agencies');
    await page.getByLabel('Code').fill('old-clinic');
    await page.getByLabel('Name').fill('Old Clinic');
    await page.getByLabel('Kind').selectOption('mental_health');
    await page.getByRole('button', { name: 'Add agency' }).click();
    await page.getByRole('cell', { name: 'Old Clinic' }).waitFor();
    await page.getByRole('button', { name: 'Disable old-clinic' }).click();
    await page.getByRole('heading', { name: 'Disable the agency old-clinic?', level: 1 }).waitFor();
    await page.getByText('The console cannot enable an agency again.').waitFor();
    await review(page, '25-admin-agency-disable-confirm');
    await page.getByRole('button', { name: 'Disable agency' }).click();
    await page.getByRole('alert').filter({ hasText: 'There is a problem' }).waitFor();
    expect(await log(`SELECT disabled_at FROM agencies WHERE slug = 'old-clinic'`)).toEqual([{ disabled_at: null }]);
    await tick(page.getByRole('checkbox', { name: 'Yes, disable old-clinic' }));
    await page.getByRole('button', { name: 'Disable agency' }).click();
    await poll(() => flash(page).textContent()).toMatch(/old-clinic/);
    expect((await log(`SELECT disabled_at FROM agencies WHERE slug = 'old-clinic'`))[0]!.disabled_at).not.toBeNull();

    await page.goto('/admin/users');
    await page.getByLabel('Username', { exact: true }).fill('temp@harbor-mh');
    await page.getByLabel('Agency code').fill('harbor-mh');
    await page.getByLabel('Role', { exact: true }).selectOption({ label: 'clinician (mental health)' });
    await page.getByRole('button', { name: 'Invite user' }).click();
    await page.getByRole('row', { name: /temp@harbor-mh/ }).waitFor();
    // A Harbor (mental-health) clinician's row offers only mental-health roles, its own preselected.
    const harborRole = page.getByLabel('Role of clinician@harbor-mh');
    expect(await harborRole.locator('option:checked').textContent()).toBe('clinician (mental health)');
    expect(await harborRole.locator('option').allTextContents()).toEqual(['clinician (mental health)', 'peer specialist (mental health)']);
    await page.getByRole('button', { name: 'Disable temp@harbor-mh' }).click();
    await page.getByRole('heading', { name: 'Disable temp@harbor-mh?', level: 1 }).waitFor();
    await page.getByText('temp@harbor-mh is signed out everywhere at once and can no longer sign in.').waitFor();
    await review(page, '26-admin-user-disable-confirm');
    await page.getByRole('button', { name: 'Disable user' }).click();
    await page.getByRole('alert').filter({ hasText: 'There is a problem' }).waitFor();
    expect(await log(`SELECT disabled_at FROM users WHERE username = 'temp@harbor-mh'`)).toEqual([{ disabled_at: null }]);
    await tick(page.getByRole('checkbox', { name: 'Yes, disable temp@harbor-mh' }));
    await page.getByRole('button', { name: 'Disable user' }).click();
    await poll(() => flash(page).textContent()).toBe('temp@harbor-mh was disabled and signed out everywhere.');
    expect((await log(`SELECT disabled_at FROM users WHERE username = 'temp@harbor-mh'`))[0]!.disabled_at).not.toBeNull();
    await context.close();
  });
});

describe('console: sessions', { timeout: 120_000 }, () => {
  it('lands an idle session on sign-in, and sign-out ends the session and revokes its token', async () => {
    const { page, context } = await person(browser, base);
    await signIn(page, 'clerk@metro-police', PASSWORD);
    // 16 minutes without a request: the stored session says so (the clock is the server's).
    await log(`UPDATE console_sealed_sessions SET last_seen_at = now() - interval '16 minutes'`);
    await page.goto(`/people/${ada}`);
    await poll(() => page.url()).toMatch(/\/sign-in\?ended=idle$/);
    await page.getByText(/signed out because there was no activity for 15 minutes/).waitFor();
    await review(page, '26-signed-out-idle');

    await signIn(page, 'clerk@metro-police', PASSWORD);
    const sid = decodeURIComponent((await context.cookies()).find((c) => c.name === 'tiergate.sid')!.value)
      .slice(2)
      .split('.')[0]!;
    // The row keeps the id only hashed and the token sealed: the token's id comes from its issue entry.
    const hash = createHash('sha256').update(sid).digest('base64url');
    expect(await log(`SELECT sid_hash FROM console_sealed_sessions WHERE sid_hash = $1`, [hash])).toHaveLength(1);
    const [issued] = await log(
      `SELECT detail->>'jti' AS jti FROM access_log WHERE action = 'token.issue' AND decision = 'allow' AND actor_username = 'clerk@metro-police' ORDER BY seq DESC LIMIT 1`,
    );
    const jti = String(issued!.jti);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByText('You have signed out.').waitFor();
    expect(await log(`SELECT jti FROM revoked_tokens WHERE jti = $1`, [jti])).toHaveLength(1);
    expect(await log(`SELECT sid_hash FROM console_sealed_sessions WHERE sid_hash = $1`, [hash])).toHaveLength(0);
    await page.goto(`/people/${ada}`);
    await poll(() => page.url()).toMatch(/\/sign-in$/);
    await context.close();
  });

  it('warns two minutes before the idle logoff, and “Stay signed in” keeps the session', async () => {
    const { page, context } = await person(browser, base);
    await page.clock.install();
    await signIn(page, 'officer@metro-police', PASSWORD);
    const dialog = page.getByRole('alertdialog', { name: 'You will be signed out soon' });
    expect(await dialog.isVisible()).toBe(false);
    await page.clock.fastForward('13:05');
    await dialog.waitFor();
    await poll(() => dialog.textContent()).toMatch(/signed out in 1 minute \d+ seconds/);
    await review(page, '27-idle-warning');
    await dialog.getByRole('button', { name: 'Stay signed in' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await page.goto('/people');
    await poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Find a person');
    await context.close();
  });

  it('serves the console with a strict Content-Security-Policy and its assets from the same origin', async () => {
    const res = await fetch(`${base}/sign-in`);
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval/);
    expect(csp).toContain("default-src 'none'");
    const css = await fetch(`${base}/assets/uswds/css/uswds.min.css`);
    expect(css.status).toBe(200);
    expect(css.headers.get('cache-control')).toMatch(/max-age=3600/);
    // The API keeps its own answers: an unknown /v1 path is still problem+json, not a page.
    const api = await fetch(`${base}/v1/nothing-here`);
    expect(api.headers.get('content-type')).toMatch(/problem\+json/);
  });
});
