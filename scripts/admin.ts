// `npm run admin -- <command> ...`: onboarding from an operator's shell, with the same service
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
import { AdminService } from '../src/modules/admin/service.js';
import { auditedCli, operatorName } from './audited-cli.js';
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

  --json  print the result as JSON instead of text`;

class UsageError extends Error {}

const existingUsername = z.string().min(1).max(200);
const fmt = (d: Date | null | undefined) => (d ? d.toISOString() : '-');

type Print = (result: never) => string;
interface Command {
  /** Argument names; a trailing `?` marks an optional one. */
  args: string[];
  action: AuditAction;
  run(service: AdminService, scope: AuditScope, args: string[]): Promise<unknown>;
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
    run: (s, scope, [slug, kind, name]) => s.createAgency(scope, parseInput(createAgencyBody, { slug, kind, name })),
    print: (a: Agency) => `created agency ${a.slug} (${a.kind}) ${a.id}`,
  },
  'agency:list': {
    args: [],
    action: A.adminAgencyList,
    run: (s, scope) => s.listAgencies(scope),
    print: (r: { agencies: Agency[] }) => r.agencies.map(agencyLine).join('\n') || '(no agencies)',
  },
  'agency:disable': {
    args: ['slug'],
    action: A.adminAgencyDisable,
    run: (s, scope, [slug]) => s.disableAgency(scope, parseInput(agencySlug, slug), undefined),
    print: (a: Agency) => `agency ${a.slug} disabled at ${fmt(a.disabledAt)}; its users' and clients' tokens stop working now`,
  },
  'user:invite': {
    args: ['username', 'agencySlug', 'role'],
    action: A.adminUserInvite,
    run: (s, scope, [username, agency, role]) => s.inviteUser(scope, parseInput(inviteUserBody, { username, agency, role }), undefined),
    print: (u: Invited) => `invited ${u.username} (${u.role} at ${u.agency}) ${u.id}\n${enrolmentLines(u)}${pendingLine(u)}`,
  },
  'user:list': {
    args: ['agencySlug?'],
    action: A.adminUserList,
    run: (s, scope, [agency]) => s.listUsers(scope, agency === undefined ? {} : { agency: parseInput(agencySlug, agency) }),
    print: (r: { users: User[] }) => r.users.map(userLine).join('\n') || '(no users)',
  },
  'user:role': {
    args: ['username', 'role'],
    action: A.adminUserRole,
    run: (s, scope, [username, role]) => s.setUserRole(scope, { username: parseInput(existingUsername, username) }, parseInput(roleName, role), undefined),
    print: (u: User & { pendingRole?: string; approvalId?: string }) =>
      u.pendingRole
        ? `${u.username} stays ${u.role} at ${u.agency}; the change to ${u.pendingRole} waits for a compliance officer (approval ${u.approvalId})`
        : `${u.username} is now ${u.role} at ${u.agency}; tokens issued for the old role stop working now`,
  },
  'user:disable': {
    args: ['username'],
    action: A.adminUserDisable,
    run: (s, scope, [username]) => s.disableUser(scope, { username: parseInput(existingUsername, username) }, undefined),
    print: (u: User) => `user ${u.username} disabled at ${fmt(u.disabledAt)}; their tokens stop working now`,
  },
  'user:reset-mfa': {
    args: ['username'],
    action: A.adminUserResetMfa,
    run: (s, scope, [username]) => s.resetMfa(scope, { username: parseInput(existingUsername, username) }, undefined),
    print: (u: Invited) =>
      `second factor of ${u.username} reset; they re-enrol with the code and their current password, which does not change\n${enrolmentLines(u)}`,
  },
  'client:register': {
    args: ['clientId', 'agencySlug', 'role', 'jwks-file.json'],
    action: A.adminClientRegister,
    run: (s, scope, [id, agency, role, file]) =>
      s.registerClient(scope, parseInput(registerClientBody, { clientId: id, agency, role, jwks: readJwks(file!) }), undefined),
    print: (c: Client & { approvalId?: string }) =>
      `registered client ${c.clientId} (${c.role} at ${c.agency}) with keys ${c.keys.map((k) => k.kid).join(', ')}${pendingLine(c)}`,
  },
  'client:users': {
    args: ['clientId', 'users?'],
    action: A.adminClientUsers,
    run: (s, scope, [id, list]) =>
      s.setClientUsers(scope, parseInput(clientId, id), parseInput(clientUsersBody, { users: list ? list.split(',').filter(Boolean) : [] }).users, undefined),
    print: (c: Client & { approvalId: string; pendingAllowedUserIds: string[] }) =>
      `client ${c.clientId} may act for ${c.pendingAllowedUserIds.length} user(s) once a compliance officer approves (approval ${c.approvalId})`,
  },
  'client:list': {
    args: [],
    action: A.adminClientList,
    run: (s, scope) => s.listClients(scope),
    print: (r: { clients: Client[] }) => r.clients.map(clientLine).join('\n') || '(no clients)',
  },
  'client:disable': {
    args: ['clientId'],
    action: A.adminClientDisable,
    run: (s, scope, [id]) => s.disableClient(scope, parseInput(clientId, id)),
    print: (c: Client) => `client ${c.clientId} disabled at ${fmt(c.disabledAt)}; its tokens stop working now`,
  },
  'keys:rotate': {
    args: [],
    action: A.adminKeysRotate,
    run: (s, scope) => s.rotateKeys(scope),
    print: (k: Key & { publishDelaySeconds: number }) =>
      `new signing key ${k.kid} (${k.alg}) published now; it signs from ${fmt(k.activatesAt)}` +
      (k.publishDelaySeconds
        ? ` (after ${k.publishDelaySeconds} s, once every gateway has fetched it); the keys it replaces verify until their last token expires`
        : ''),
  },
  'keys:list': {
    args: [],
    action: A.adminKeysList,
    run: (s, scope) => s.listKeys(scope),
    print: (r: { keys: Key[] }) => r.keys.map(keyLine).join('\n') || '(no signing keys)',
  },
};

function parseArgv(argv: string[]): { json: boolean; name: string; command: Command; args: string[] } {
  const json = argv.includes('--json');
  const [name, ...args] = argv.filter((a) => a !== '--json');
  if (!name || name === 'help' || name === '--help' || name === '-h') throw new UsageError('');
  const command = COMMANDS[name];
  if (!command) throw new UsageError(`unknown command: ${name}`);
  const required = command.args.filter((a) => !a.endsWith('?')).length;
  if (args.length < required || args.length > command.args.length) {
    throw new UsageError(`${name} takes ${command.args.map((a) => (a.endsWith('?') ? `[${a.slice(0, -1)}]` : `<${a}>`)).join(' ') || 'no arguments'}`);
  }
  return { json, name, command, args };
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
  const service = new AdminService(loadPolicy(), {
    keyEncryptionKey: config.keyEncryptionKey,
    tokenTtlSeconds: config.TOKEN_TTL_SECONDS,
    cliOperator: operatorName(),
  });
  const database = await openFromEnvironment({ max: 1 });
  try {
    const { command, args, json } = parsed;
    const result = await auditedCli(database.db, command.action, (scope) => command.run(service, scope, args));
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
