// `npm run admin -- <command> ...`: onboarding from an operator's shell, with the same services
// (and so the same checks) as /v1/admin. Each action writes its access-log entry in the
// transaction that makes the change, with request id `cli:<uuid>`, no actor and the operator's
// login name in the detail. Connects like the gateway: DATABASE_URL, else PGlite under DATA_DIR
// (migrated first). Exit codes: 0 done, 1 refused or failed, 2 usage.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { AuditScope } from '../src/audit/audited.js';
import { AUDIT_ACTIONS as A, type AuditAction } from '../src/audit/vocabulary.js';
import { loadPolicy } from '../src/authz/policy.js';
import { loadConfig } from '../src/config/index.js';
import { HttpProblem } from '../src/errors/problems.js';
import {
  agencySlug,
  clientId,
  clientUsersBody,
  createAgencyBody,
  inviteUserBody,
  parseInput,
  registerClientBody,
  roleName,
} from '../src/modules/admin/schemas.js';
import { adminServices, type AdminServices, type Operator } from '../src/modules/admin/service.js';
import { auditedCli } from './audited-cli.js';
import { openFromEnvironment } from './database.js';

const USAGE = `usage: npm run admin -- [--json] <command> [arguments]

  agency:create <slug> <kind> <name>      kind: police | mental_health | hospital | gateway
  agency:list
  agency:disable <slug>
  user:invite <username> <agencySlug> <role>   prints the one-time enrolment code; partner accounts need approval
  user:list [agencySlug]
  user:role <username> <role>
  user:disable <username>
  user:reset-mfa <username>                    prints a new one-time enrolment code (re-enrolment proves the password)
  client:register <clientId> <agencySlug> <role> <jwks-file.json>
  client:users <clientId> [user,user,...]       who it may act for (on_behalf_of); needs approval
  client:list
  client:disable <clientId>
  keys:rotate
  keys:list

  --operator <username>   the operator account asking (or TIERGATE_OPERATOR): required for
                          every change a compliance officer approves or reviews, which it names
  --json  print the result as JSON instead of text`;

class UsageError extends Error {}

const existingUsername = z.string().min(1).max(200);
const fmt = (d: Date | null | undefined) => (d ? d.toISOString() : '-');

type Print = (result: never) => string;
interface Command {
  /** Argument names; a trailing `?` marks an optional one. */
  args: string[];
  action: AuditAction;
  run(admin: AdminServices, scope: AuditScope, args: string[], operator: Operator): Promise<unknown>;
  print: Print;
}

/** A JWK set from a file; a single JWK is taken as a set of one. Only public keys are accepted. */
function readJwks(file: string): unknown {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UsageError(`cannot read a JSON key set from ${file}: ${(err as Error).message}`);
  }
  return raw && typeof raw === 'object' && 'kty' in raw ? { keys: [raw] } : raw;
}

type Agency = { slug: string; kind: string; name: string; id: string; disabledAt: Date | null };
type User = {
  id: string;
  username: string;
  agency: string;
  role: string;
  kind: string;
  mfaEnrolled: boolean;
  enrolmentPending: boolean;
  disabledAt: Date | null;
};
type Client = { clientId: string; agency: string; role: string; disabledAt: Date | null; keys: { kid?: string }[] };
type Key = { kid: string; alg: string; status: string; activatesAt: Date; retireAfter: Date | null };

const agencyLine = (a: Agency) => `${a.slug}\t${a.kind}\t${a.disabledAt ? 'disabled' : 'enabled'}\t${a.name}\t${a.id}`;
const userLine = (u: User) =>
  `${u.username}\t${u.agency}\t${u.role}\t${u.kind}\t${u.disabledAt ? 'disabled' : u.mfaEnrolled ? 'enrolled' : u.enrolmentPending ? 'invited' : 'not-enrolled'}\t${u.id}`;
const clientLine = (c: Client) =>
  `${c.clientId}\t${c.agency}\t${c.role}\t${c.disabledAt ? 'disabled' : 'enabled'}\tkeys: ${c.keys.map((k) => k.kid).join(', ')}`;
const keyLine = (k: Key) => `${k.kid}\t${k.alg}\t${k.status}\tactivates ${fmt(k.activatesAt)}\tretire-after ${fmt(k.retireAfter)}`;
type Invited = User & { enrolmentCode: string; enrolmentExpiresAt: Date | null; approvalId?: string };
/** Partner accounts, role changes and clients wait for a compliance officer (GET /v1/audit/approvals). */
const pendingLine = (r: { approvalId?: string }) =>
  r.approvalId ? `\npending: takes effect only when a compliance officer approves it (approval ${r.approvalId})` : '';
const enrolmentLines = (u: Invited) =>
  `enrolment code: ${u.enrolmentCode}\nvalid until ${fmt(u.enrolmentExpiresAt)}; shown once: hand it to ${u.username} out of band. They complete enrolment at POST /oauth/enrol and /oauth/enrol/confirm` +
  (u.approvalId ? ', with the second code the approving compliance officer hands them.' : '.');

const COMMANDS: Record<string, Command> = {
  'agency:create': {
    args: ['slug', 'kind', 'name'],
    action: A.adminAgencyCreate,
    run: (s, scope, [slug, kind, name]) => s.agencies.create(scope, parseInput(createAgencyBody, { slug, kind, name })),
    print: (a: Agency) => `created agency ${a.slug} (${a.kind}) ${a.id}`,
  },
  'agency:list': {
    args: [],
    action: A.adminAgencyList,
    run: (s, scope) => s.agencies.list(scope),
    print: (r: { agencies: Agency[] }) => r.agencies.map(agencyLine).join('\n') || '(no agencies)',
  },
  'agency:disable': {
    args: ['slug'],
    action: A.adminAgencyDisable,
    run: (s, scope, [slug], op) => s.agencies.disable(scope, parseInput(agencySlug, slug), op),
    print: (a: Agency & { approvalId?: string }) =>
      `agency ${a.slug} disabled at ${fmt(a.disabledAt)}; its users' and clients' tokens stop working now${a.approvalId ? `\nqueued for a compliance officer's review (approval ${a.approvalId})` : ''}`,
  },
  'user:invite': {
    args: ['username', 'agencySlug', 'role'],
    action: A.adminUserInvite,
    run: (s, scope, [username, agency, role], op) => s.users.invite(scope, parseInput(inviteUserBody, { username, agency, role }), op),
    print: (u: Invited) => `invited ${u.username} (${u.role} at ${u.agency}) ${u.id}\n${enrolmentLines(u)}${pendingLine(u)}`,
  },
  'user:list': {
    args: ['agencySlug?'],
    action: A.adminUserList,
    run: (s, scope, [agency]) => s.users.list(scope, agency === undefined ? {} : { agency: parseInput(agencySlug, agency) }),
    print: (r: { users: User[] }) => r.users.map(userLine).join('\n') || '(no users)',
  },
  'user:role': {
    args: ['username', 'role'],
    action: A.adminUserRole,
    run: (s, scope, [username, role], op) => s.users.setRole(scope, { username: parseInput(existingUsername, username) }, parseInput(roleName, role), op),
    print: (u: User & { pendingRole?: string; approvalId?: string }) =>
      u.pendingRole
        ? `${u.username} stays ${u.role} at ${u.agency}; the change to ${u.pendingRole} waits for a compliance officer (approval ${u.approvalId})`
        : `${u.username} is now ${u.role} at ${u.agency}; tokens issued for the old role stop working now`,
  },
  'user:disable': {
    args: ['username'],
    action: A.adminUserDisable,
    run: (s, scope, [username], op) => s.users.disable(scope, { username: parseInput(existingUsername, username) }, op),
    print: (u: User & { approvalId?: string }) =>
      `user ${u.username} disabled at ${fmt(u.disabledAt)}; their tokens stop working now${u.approvalId ? `\nqueued for a compliance officer's review (approval ${u.approvalId})` : ''}`,
  },
  'user:reset-mfa': {
    args: ['username'],
    action: A.adminUserResetMfa,
    run: (s, scope, [username], op) => s.users.resetMfa(scope, { username: parseInput(existingUsername, username) }, op),
    print: (u: Invited | (User & { approvalId: string })) =>
      'enrolmentCode' in u
        ? `second factor of ${u.username} reset; they re-enrol with the code and their current password, which does not change\n${enrolmentLines(u)}${pendingLine(u).replace('takes effect only when a compliance officer approves it', 'queued for a compliance officer’s review')}`
        : `resetting the second factor of ${u.username} waits for a compliance officer (approval ${u.approvalId}), who hands them the new code`,
  },
  'client:register': {
    args: ['clientId', 'agencySlug', 'role', 'jwks-file.json'],
    action: A.adminClientRegister,
    run: (s, scope, [id, agency, role, file], op) =>
      s.clients.register(scope, parseInput(registerClientBody, { clientId: id, agency, role, jwks: readJwks(file!) }), op),
    print: (c: Client & { approvalId?: string }) =>
      `registered client ${c.clientId} (${c.role} at ${c.agency}) with keys ${c.keys.map((k) => k.kid).join(', ')}${pendingLine(c)}`,
  },
  'client:users': {
    args: ['clientId', 'users?'],
    action: A.adminClientUsers,
    run: (s, scope, [id, list], op) =>
      s.clients.setUsers(scope, parseInput(clientId, id), parseInput(clientUsersBody, { users: list ? list.split(',').filter(Boolean) : [] }).users, op),
    print: (c: Client & { approvalId: string; pendingAllowedUserIds: string[] }) =>
      `client ${c.clientId} may act for ${c.pendingAllowedUserIds.length} user(s) once a compliance officer approves (approval ${c.approvalId})`,
  },
  'client:list': {
    args: [],
    action: A.adminClientList,
    run: (s, scope) => s.clients.list(scope),
    print: (r: { clients: Client[] }) => r.clients.map(clientLine).join('\n') || '(no clients)',
  },
  'client:disable': {
    args: ['clientId'],
    action: A.adminClientDisable,
    run: (s, scope, [id], op) => s.clients.disable(scope, parseInput(clientId, id), op),
    print: (c: Client & { approvalId?: string }) =>
      `client ${c.clientId} disabled at ${fmt(c.disabledAt)}; its tokens stop working now${c.approvalId ? `\nqueued for a compliance officer's review (approval ${c.approvalId})` : ''}`,
  },
  'keys:rotate': {
    args: [],
    action: A.adminKeysRotate,
    run: (s, scope) => s.keys.rotate(scope),
    print: (k: Key & { publishDelaySeconds: number }) =>
      `new signing key ${k.kid} (${k.alg}) published now; it signs from ${fmt(k.activatesAt)}` +
      (k.publishDelaySeconds
        ? ` (after ${k.publishDelaySeconds} s, once every gateway has fetched it); the keys it replaces verify until their last token expires`
        : ''),
  },
  'keys:list': {
    args: [],
    action: A.adminKeysList,
    run: (s, scope) => s.keys.list(scope),
    print: (r: { keys: Key[] }) => r.keys.map(keyLine).join('\n') || '(no signing keys)',
  },
};

function parseArgv(argv: string[]): { json: boolean; operator?: string; name: string; command: Command; args: string[] } {
  const json = argv.includes('--json');
  const rest = argv.filter((a) => a !== '--json');
  const at = rest.indexOf('--operator');
  let operator = process.env.TIERGATE_OPERATOR || undefined;
  if (at >= 0) {
    operator = rest[at + 1];
    if (!operator || operator.startsWith('--')) throw new UsageError('--operator takes a username');
    rest.splice(at, 2);
  }
  const [name, ...args] = rest;
  if (!name || name === 'help' || name === '--help' || name === '-h') throw new UsageError('');
  const command = COMMANDS[name];
  if (!command) throw new UsageError(`unknown command: ${name}`);
  const required = command.args.filter((a) => !a.endsWith('?')).length;
  if (args.length < required || args.length > command.args.length) {
    throw new UsageError(`${name} takes ${command.args.map((a) => (a.endsWith('?') ? `[${a.slice(0, -1)}]` : `<${a}>`)).join(' ') || 'no arguments'}`);
  }
  return { json, ...(operator ? { operator } : {}), name, command, args };
}

async function main(): Promise<number> {
  let parsed: ReturnType<typeof parseArgv>;
  try {
    parsed = parseArgv(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    if (err.message) console.error(`error: ${err.message}`);
    console.error(USAGE);
    return 2;
  }
  const config = loadConfig();
  const admin = adminServices(loadPolicy(), { keyEncryptionKey: config.keyEncryptionKey, tokenTtlSeconds: config.TOKEN_TTL_SECONDS });
  const database = await openFromEnvironment({ max: 1 });
  try {
    const { command, args, json, operator } = parsed;
    const result = await auditedCli(database.db, command.action, async (scope) =>
      command.run(admin, scope, args, operator === undefined ? undefined : await admin.users.cliOperator(scope.tx, operator)),
    );
    console.log(json ? JSON.stringify(result, null, 2) : command.print(result as never));
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`error: ${err.message}`);
      return 2;
    }
    if (!(err instanceof HttpProblem)) throw err;
    console.error(`error: ${err.detail ?? err.title}`);
    for (const issue of (err.extra.errors as { path: string; message: string }[] | undefined) ?? []) console.error(`  ${issue.path}: ${issue.message}`);
    return 1;
  } finally {
    await database.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    // Configuration and database failures: the message names the setting, never a secret.
    console.error(`error: ${err.message}`);
    process.exit(1);
  },
);
