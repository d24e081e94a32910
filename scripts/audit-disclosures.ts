// `npm run audit:disclosures -- <subjectId> [--format json|csv|fhir] [--from ISO] [--to ISO] [--out FILE]`:
// a person's accounting of disclosures (45 CFR 164.528) from the command line, the same as
// GET /v1/audit/subjects/:id/disclosures and logged the same way (`audit.disclosures.read`, with
// the operator's login name). Connects like the gateway: DATABASE_URL, else PGlite under DATA_DIR.
// Exit codes: 0 done, 1 refused (unknown person, period out of reach), 2 usage.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { AUDIT_ACTIONS as A } from '../src/audit/vocabulary.js';
import { loadPolicy } from '../src/authz/policy.js';
import { HttpProblem, NotFound } from '../src/errors/problems.js';
import { isoDateTime, uuid } from '../src/http/validate.js';
import { accountDisclosures } from '../src/modules/audit/accounting.js';
import { accountingPeriod, DISCLOSURE_FORMATS, renderAccounting } from '../src/modules/audit/accounting-formats.js';
import { auditedCli } from './audited-cli.js';
import { openFromEnvironment } from './database.js';

const USAGE = 'usage: npm run audit:disclosures -- <subjectId> [--format json|csv|fhir] [--from ISO-8601] [--to ISO-8601] [--out FILE]';
const argsSchema = z.strictObject({
  subjectId: uuid,
  format: z.enum(DISCLOSURE_FORMATS).default('json'),
  from: isoDateTime.optional(),
  to: isoDateTime.optional(),
  out: z.string().min(1).optional(),
});

let args: z.infer<typeof argsSchema>;
try {
  const { values, positionals } = parseArgs({
    options: { format: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, out: { type: 'string' } },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length !== 1) throw new Error('one subject id');
  args = argsSchema.parse({ subjectId: positionals[0], ...values });
} catch {
  console.error(USAGE);
  process.exit(2);
}

const policy = loadPolicy().disclosures;
const database = await openFromEnvironment();
try {
  const period = accountingPeriod(args.from, args.to);
  const list = await auditedCli(database.db, A.auditDisclosures, async ({ tx, note }) => {
    note({ subjectId: args.subjectId, basis: [{ rule: 'audit' }], detail: { ...period, format: args.format } });
    const found = await accountDisclosures(tx, policy, args.subjectId, period.from, period.to);
    if (!found) throw new NotFound('subject');
    note({ detail: { ...period, format: args.format, returned: found.length } });
    return found;
  });
  const { body } = renderAccounting(args.format, args.subjectId, period, list, policy.purposeOfUse);
  if (args.out) {
    writeFileSync(args.out, body);
    console.error(`${list.length} disclosures written to ${args.out}`);
  } else {
    process.stdout.write(`${body}\n`);
  }
} catch (err) {
  if (!(err instanceof HttpProblem)) throw err;
  console.error(`refused: ${err.detail ?? err.title}`);
  process.exitCode = 1;
} finally {
  await database.close();
}
