import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import request from 'supertest';
import { createTestApp } from '../helpers/app.js';
import { openTestDatabase } from '../helpers/db.js';

// The documentation is the contract a fresh clone carries: every relative link in the README and
// docs/ resolves to a file (and heading) inside the repository, none leaves it, and the API and
// configuration references list what the code has.

const ROOT = path.resolve(import.meta.dirname, '../..');
const files = [
  'README.md',
  ...readdirSync(path.join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];
const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');
/** Markdown without its fenced code blocks and inline code, where links are not links. */
const prose = (text: string) => text.replace(/^```[\s\S]*?^```/gm, '').replace(/`[^`\n]*`/g, '');
const links = (text: string) => [...prose(text).matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((m) => m[1]!);
/** GitHub's anchor for a heading. */
const slug = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[`*_]/g, '')
    .replace(/[^\p{L}\p{N}\s-]/gu, '')
    .replace(/\s/g, '-');
const anchors = (text: string) => new Set([...prose(text).matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) => slug(m[1]!)));

describe('documentation links', () => {
  it('covers the README and every page in docs/', () => {
    expect(files).toEqual(
      expect.arrayContaining(['README.md', 'docs/README.md', 'docs/api.md', 'docs/operations.md', 'docs/deployment.md', 'docs/protocol.md', 'docs/console.md']),
    );
  });

  for (const file of files) {
    it(`${file}: every relative link resolves inside the repository`, () => {
      const text = read(file);
      expect(text).not.toMatch(/\/work\/|\.\.\/shared|file:\/\//);
      for (const link of links(text)) {
        if (/^https?:\/\//.test(link) || link.startsWith('mailto:')) continue;
        expect(link, `${file}: ${link} is an absolute path`).not.toMatch(/^\//);
        const [target, anchor] = link.split('#') as [string, string | undefined];
        const resolved = target === '' ? path.join(ROOT, file) : path.resolve(path.dirname(path.join(ROOT, file)), decodeURIComponent(target));
        expect(path.relative(ROOT, resolved).startsWith('..'), `${file}: ${link} leaves the repository`).toBe(false);
        expect(existsSync(resolved), `${file}: ${link} does not exist`).toBe(true);
        if (anchor && statSync(resolved).isFile() && resolved.endsWith('.md')) {
          expect(anchors(readFileSync(resolved, 'utf8')), `${file}: ${link} names no heading`).toContain(anchor);
        }
      }
    });
  }
});

describe('reference pages match the code', () => {
  it('docs/api.md lists every endpoint of the OpenAPI document', async () => {
    const api = read('docs/api.md');
    // The document is recorded by the routes as the app mounts them: read it from the app.
    const database = await openTestDatabase();
    const doc = await createTestApp(database.app)
      .then(async (t) => (await request(t.app).get('/openapi.json')).body as { paths: Record<string, Record<string, unknown>> })
      .finally(() => database.close());
    const endpoints = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p.replace(/\{(\w+)\}/g, ':$1')}`));
    expect(endpoints.length).toBeGreaterThan(30);
    for (const endpoint of endpoints) expect(api, endpoint).toMatch(new RegExp(`${endpoint.replace(/[.?*+^$()[\]{}|\\/]/g, '\\$&')}(?![\\w/-])`));
  });

  it('docs/operations.md documents every configuration key', () => {
    const operations = read('docs/operations.md');
    const keys = [...read('src/config/index.ts').matchAll(/^ {2}([A-Z][A-Z0-9_]+): z/gm)].map((m) => m[1]!);
    expect(keys.length).toBeGreaterThan(15);
    for (const key of keys) expect(operations, key).toContain(`| \`${key}\` |`);
  });
});
