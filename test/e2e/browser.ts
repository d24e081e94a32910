import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { expect } from 'vitest';

// Debian's chromium, driven by playwright-core (no browser download). `.ci/run` installs it.
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
export const SCREENSHOTS = path.resolve(import.meta.dirname, 'screenshots');
// Evaluated through the DevTools protocol: the console's CSP (rightly) refuses an injected script tag.
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** Where Debian's chromium is, or undefined when it is not installed. */
export function chromiumPath(): string | undefined {
  try {
    return execFileSync('sh', ['-c', 'command -v chromium || command -v chromium-browser'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

const HOW_TO_RUN = 'The console’s browser tests need Debian’s chromium: apt-get install -y chromium (.ci/run installs it)';

/**
 * Whether this machine runs the browser suite: without chromium it is skipped with a line saying
 * how to run it, so `npm test` passes on a fresh machine; under CI (`CI=true`) a missing browser
 * fails instead, so CI never passes without the browser tests.
 */
export function browserSuiteRuns(): boolean {
  if (chromiumPath()) return true;
  if (process.env.CI === 'true') throw new Error(`${HOW_TO_RUN}. CI=true, so they are not skipped.`);
  console.error(`Skipped: ${HOW_TO_RUN}.`);
  return false;
}

export function launch(): Promise<Browser> {
  const executablePath = chromiumPath();
  if (!executablePath) throw new Error(HOW_TO_RUN);
  mkdirSync(SCREENSHOTS, { recursive: true });
  return chromium.launch({ executablePath, args: FLAGS, headless: true });
}

/** A fresh browser profile; any CSP violation or page error fails the test that opened it. */
export async function person(browser: Browser, baseURL: string): Promise<{ context: BrowserContext; page: Page; problems: string[] }> {
  const context = await browser.newContext({ baseURL, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of 40[034]/.test(m.text())) problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(String(e)));
  return { context, page, problems };
}

export async function signIn(page: Page, username: string, password: string, otp?: string): Promise<void> {
  await page.goto('/sign-in');
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  if (otp) await page.getByLabel('Code from your authenticator app').fill(otp);
  await page.getByRole('button', { name: 'Sign in' }).click();
  // The home: the cards ("Hello, …"), or for a role whose one job is finding a person, the search itself.
  await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent(), { timeout: 15_000 }).toMatch(/^(Hello, |Find a person$)/);
  expect(new URL(page.url()).pathname).toBe('/');
}

/** An axe-core scan (WCAG 2.x A and AA, and 2.2) of what the page shows now, and a screenshot of it. */
export async function review(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
  await page.evaluate(AXE);
  const violations = await page.evaluate(async () => {
    const axe = (
      window as unknown as {
        axe: { run(ctx: Document, opts: unknown): Promise<{ violations: { id: string; impact: string; nodes: { target: string[] }[] }[] }> };
      }
    ).axe;
    const result = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'] } });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, targets: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
  });
  const serious = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect(serious, `${name}: ${JSON.stringify(serious)}`).toEqual([]);
}
