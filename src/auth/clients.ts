import { eq } from 'drizzle-orm';
import type { Executor } from '../db/client.js';
import { agencies, clients, users } from '../db/schema/index.js';
import { BadRequest, Conflict } from '../errors/problems.js';
import { isUuid } from '../http/ids.js';
import { assertJwksImport, InvalidJwks, normalizeClientJwks } from './client-assertion.js';

/** A client id: printable, no spaces, so it can sit in a username, a log column and a JWT claim. */
export const CLIENT_ID = /^[A-Za-z0-9][A-Za-z0-9._~:-]{0,127}$/;
const ROLE = /^[a-z][a-z_]*$/;
/** A service user's password hash that no password can ever match: it never logs in. */
const UNUSABLE_PASSWORD_HASH = '!';

export interface RegisterClientInput {
  clientId: string;
  agencyId: string;
  /** The role the client holds when it acts as itself (its service user's role). */
  role: string;
  /** The client's public JWK set, {keys: [...]}; stored normalized (public members only). */
  jwks: unknown;
  /** `pending` until a compliance officer approves it (a partner's client registered by an operator). */
  approval?: 'pending' | 'approved';
}

export interface RegisteredClient {
  /** clients.id */
  id: string;
  clientId: string;
  serviceUserId: string;
}

export const serviceUsername = (clientId: string) => `client:${clientId}`;

/**
 * Registers a machine client (RFC 7523 private_key_jwt) and the service user it acts as when it
 * names no user: kind 'service', username `client:<clientId>`, an unusable password, the given
 * role and agency. Both rows are written in one transaction. Checks the id, the role's form and
 * the key set (see normalizeClientJwks); whether the role exists for the agency's kind is the
 * policy's business (an unknown role is simply granted nothing). Throws BadRequest on bad input
 * and Conflict when the client id (or its service username) is taken.
 */
export async function registerClient(db: Executor, input: RegisterClientInput): Promise<RegisteredClient> {
  if (typeof input.clientId !== 'string' || !CLIENT_ID.test(input.clientId)) {
    throw new BadRequest('The client id must be 1 to 128 letters, digits or . _ ~ : - and start with a letter or digit.', [
      { path: 'clientId', message: 'invalid' },
    ]);
  }
  if (typeof input.agencyId !== 'string' || !isUuid(input.agencyId)) throw new BadRequest('No such agency.', [{ path: 'agencyId', message: 'unknown' }]);
  if (typeof input.role !== 'string' || !ROLE.test(input.role)) throw new BadRequest('The role is not valid.', [{ path: 'role', message: 'invalid' }]);
  let jwks: ReturnType<typeof normalizeClientJwks>;
  try {
    jwks = normalizeClientJwks(input.jwks);
    await assertJwksImport(jwks);
  } catch (err) {
    if (err instanceof InvalidJwks) throw new BadRequest('The key set is not acceptable.', [{ path: 'jwks', message: err.message }]);
    throw err;
  }
  try {
    return await db.transaction(async (tx) => {
      const [agency] = await tx.select({ id: agencies.id }).from(agencies).where(eq(agencies.id, input.agencyId)).limit(1);
      if (!agency) throw new BadRequest('No such agency.', [{ path: 'agencyId', message: 'unknown' }]);
      const [user] = await tx
        .insert(users)
        .values({ username: serviceUsername(input.clientId), agencyId: agency.id, role: input.role, kind: 'service', passwordHash: UNUSABLE_PASSWORD_HASH })
        .returning({ id: users.id });
      const [client] = await tx
        .insert(clients)
        .values({ clientId: input.clientId, agencyId: agency.id, serviceUserId: user!.id, jwks, approval: input.approval ?? 'approved' })
        .returning({ id: clients.id, clientId: clients.clientId });
      return { id: client!.id, clientId: client!.clientId, serviceUserId: user!.id };
    });
  } catch (err) {
    if (pgCode(err) === '23505') throw new Conflict('A client with this id is already registered.');
    throw err;
  }
}

/** The SQLSTATE of a driver error, also when drizzle wraps it (DrizzleQueryError.cause). */
function pgCode(err: unknown): string | undefined {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, i = 0; e && i < 3; e = e.cause as typeof e, i++) {
    if (typeof e.code === 'string') return e.code;
  }
  return undefined;
}
