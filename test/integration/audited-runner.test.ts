import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { Request } from 'express';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loggedRead } from '../../src/audit/append.js';
import { AuditedRunner, type AuditFacts, type DisclosingRead } from '../../src/audit/audited.js';
import { AUDIT_ACTIONS as A } from '../../src/audit/vocabulary.js';
import { NotFound, ServiceUnavailable } from '../../src/errors/problems.js';
import { openTestDatabase, type TestDatabase } from '../helpers/db.js';
import { createAgency } from '../helpers/factories.js';

// The runner's one rule, on the real statements of both drivers: the entry is written by the
// disclosing statement with the facts noted while deciding and those the disclosure brings;
// nothing can be noted after it; a refusal is logged once. The routes' tests cover the services.

let database: TestDatabase;
let runner: AuditedRunner;
let agencyId: string;
let slug: string;

const AGENCY = loggedRead('tiergate_test_runner_agency', 'SELECT id, slug FROM agencies WHERE slug = $1', 1);
const agency = (s: string): DisclosingRead<{ id: string; slug: string } | undefined> => ({
  read: AGENCY,
  values: [s],
  shape: ([row]: { id: string; slug: string }[]) => row,
});
const request = () => ({ id: randomUUID() }) as unknown as Request;

async function entriesOf(req: Request) {
  const { rows } = await database.admin(
    `SELECT decision, subject_id AS "subjectId", tier, basis, reason, detail FROM access_log WHERE request_id = $1 ORDER BY seq`,
    [req.id],
  );
  return rows;
}

beforeAll(async () => {
  database = await openTestDatabase();
  runner = new AuditedRunner(database.app.db, pino({ level: 'silent' }));
  const row = await createAgency(database.app.db, 'police');
  agencyId = row.id;
  slug = row.slug;
});
afterAll(() => database.close());

describe('AuditedRunner.read', () => {
  it('writes the entry with the disclosure: facts noted while deciding and those it brings', async () => {
    const req = request();
    const subjectId = randomUUID();
    const found = await runner.read(req, A.subjectSearch, async ({ note, disclose }) => {
      note({ subjectId });
      return disclose(agency(slug), { tier: 'basic', detail: { matches: [agencyId] } }).map((row) => row?.id);
    });
    expect(found).toBe(agencyId);
    expect(await entriesOf(req)).toEqual([{ decision: 'allow', subjectId, tier: 'basic', basis: [], reason: null, detail: { matches: [agencyId] } }]);
  });

  it('refuses a note kept from the decision and made after the disclosure: 503, the entry stands as written', async () => {
    const req = request();
    let late: ((facts: AuditFacts) => void) | undefined;
    const work = runner.read(req, A.subjectSearch, async ({ note, disclose }) => {
      late = note;
      return disclose(agency(slug), { tier: 'basic' }).map((row) => {
        late!({ detail: { afterwards: true } });
        return row;
      });
    });
    await expect(work).rejects.toBeInstanceOf(ServiceUnavailable);
    expect(await entriesOf(req)).toEqual([{ decision: 'allow', subjectId: null, tier: 'basic', basis: [], reason: null, detail: {} }]);
  });

  it('logs a refusal once when the disclosure found nothing (no entry was written with it)', async () => {
    const req = request();
    const subjectId = randomUUID();
    const work = runner.read(req, A.subjectRead, async ({ note, disclose }) => {
      note({ subjectId });
      return disclose(agency(`no-such-${randomUUID()}`), { tier: 'basic' }).map((row) => {
        if (!row) throw new NotFound('subject');
        return row;
      });
    });
    await expect(work).rejects.toBeInstanceOf(NotFound);
    expect(await entriesOf(req)).toEqual([{ decision: 'deny', subjectId, tier: null, basis: [], reason: 'not-found', detail: {} }]);
  });

  it('takes only a disclosure as the work’s end (types)', async () => {
    const req = request();
    // @ts-expect-error: a read's work must end in its disclosure; a plain answer has no entry.
    const work = runner.read(req, A.subjectSearch, async () => ({ leaked: true }));
    // At run time the answer without a disclosure is refused as well (no entry, nothing leaves).
    await expect(work).rejects.toBeInstanceOf(ServiceUnavailable);
    expect(await entriesOf(req)).toEqual([]);
  });
});

describe('AuditedRunner.run', () => {
  it('in a transaction, the disclosure writes the entry once, with the facts noted before it', async () => {
    const req = request();
    const subjectId = randomUUID();
    const found = await runner.run(req, A.subjectCreate, async ({ tx, note, disclose }) => {
      note({ subjectId, basis: [{ rule: 'contribute-subject' }] });
      await tx.execute(sql`SELECT 1`);
      return disclose(agency(slug), { tier: 'basic', reason: 'possible-duplicate' }).map((row) => row?.slug);
    });
    expect(found).toBe(slug);
    expect(await entriesOf(req)).toEqual([
      { decision: 'allow', subjectId, tier: 'basic', basis: [{ rule: 'contribute-subject' }], reason: 'possible-duplicate', detail: {} },
    ]);
  });

  it('rolls back the disclosure’s entry with a refusal after it, and logs the refusal', async () => {
    const req = request();
    const work = runner.run(req, A.subjectCreate, async ({ disclose }) =>
      disclose(agency(slug), { tier: 'basic' }).map(() => {
        throw new NotFound('subject');
      }),
    );
    await expect(work).rejects.toBeInstanceOf(NotFound);
    expect(await entriesOf(req)).toEqual([{ decision: 'deny', subjectId: null, tier: null, basis: [], reason: 'not-found', detail: {} }]);
  });

  it('appends the entry of work that discloses nothing at its end, with every note', async () => {
    const req = request();
    await runner.run(req, A.subjectCreate, async ({ note }) => {
      note({ basis: [{ rule: 'contribute-subject' }] });
      note({ detail: { subjectCreated: true } });
    });
    expect(await entriesOf(req)).toEqual([
      { decision: 'allow', subjectId: null, tier: null, basis: [{ rule: 'contribute-subject' }], reason: null, detail: { subjectCreated: true } },
    ]);
  });
});
