import { z } from 'zod';
import { CLIENT_ID } from '../../auth/clients.js';
import { AGENCY_KINDS } from '../../authz/vocabulary.js';
import { BadRequest } from '../../errors/problems.js';
import { at, id, oneOf } from '../../http/shapes.js';
import { text, uuid } from '../../http/validate.js';

// Inputs of the onboarding actions, shared by the HTTP routes (src/modules/admin/routes.ts) and the admin
// CLI (through parseInput), so that both accept exactly the same things.

/** An agency slug: lower-case words joined by hyphens, like `metro-police`. */
export const agencySlug = z
  .string()
  .max(63)
  .regex(/^[a-z0-9]+(-[a-z0-9]+)*$/, 'must be lower-case letters and digits in words joined by hyphens');

/**
 * A person's username: lower-case, optionally `name@agency`. No `:`, so it can never take the
 * `client:<id>` form reserved for the service users of machine clients.
 */
export const username = z
  .string()
  .max(200)
  .regex(/^[a-z0-9][a-z0-9._-]{0,63}(@[a-z0-9][a-z0-9.-]{0,126})?$/, 'must be lower-case letters, digits and . _ - (optionally name@agency)');

/** A role name as the policy spells it; whether it exists for the agency's kind is checked against the policy. */
export const roleName = z
  .string()
  .max(64)
  .regex(/^[a-z][a-z_]*$/, 'must be a role name like records_staff');

export const clientId = z.string().regex(CLIENT_ID, 'must be 1 to 128 letters, digits or . _ ~ : - starting with a letter or digit');

export const createAgencyBody = z.strictObject({
  slug: agencySlug,
  name: text(200),
  kind: z.enum(AGENCY_KINDS),
  // A 42 CFR Part 2 program: the identifiers it issues are shown only inside it.
  part2Program: z.boolean().optional(),
});
export const inviteUserBody = z.strictObject({ username, agency: agencySlug, role: roleName });
export const setRoleBody = z.strictObject({ role: roleName });
/** A public JWK set; each key's type, size and members are checked at registration (normalizeClientJwks). */
export const jwks = z.strictObject({ keys: z.array(z.record(z.string(), z.unknown())).min(1).max(10) });
export const registerClientBody = z.strictObject({ clientId, agency: agencySlug, role: roleName, jwks });

/** The people a client may act for, by username or user id; an empty list stops it acting for anyone. */
export const clientUsersBody = z.strictObject({ users: z.array(z.string().min(1).max(200)).max(200) });

export const listUsersQuery = z.strictObject({ agency: agencySlug.optional() });
export const agencyParams = z.strictObject({ slug: agencySlug });
export const userParams = z.strictObject({ id: uuid });
export const clientParams = z.strictObject({ clientId });

export type CreateAgencyInput = z.infer<typeof createAgencyBody>;
export type InviteUserInput = z.infer<typeof inviteUserBody>;
export type RegisterClientBody = z.infer<typeof registerClientBody>;

/** Parses outside an HTTP request (the CLI): the same 400 problem validate() gives. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.infer<S> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  throw new BadRequest(
    'The input is invalid.',
    parsed.error.issues.map((i) => ({ path: i.path.join('.') || '(root)', message: i.message })),
  );
}

// What the onboarding routes answer.

export const Agency = z
  .object({ id, slug: z.string(), name: z.string(), kind: oneOf(AGENCY_KINDS), part2Program: z.boolean(), disabledAt: at.nullable(), createdAt: at })
  .meta({ id: 'Agency' });

export const User = z
  .object({
    id,
    username: z.string(),
    agency: z.string(),
    role: z.string(),
    kind: oneOf(['person', 'service']),
    approval: oneOf(['pending', 'approved', 'rejected']),
    mfaEnrolled: z.boolean(),
    enrolmentPending: z.boolean(),
    disabledAt: at.nullable(),
    createdAt: at,
  })
  .meta({ id: 'User' });

/** Took effect at once; queued for a compliance officer's review. */
export const Reviewed = z
  .object({ approvalId: id.meta({ description: 'Took effect at once; queued for a compliance officer’s review.' }).optional() })
  .meta({ id: 'Reviewed' });

export const Invitation = z
  .intersection(
    User,
    z.object({
      enrolmentCode: z.string().meta({ description: 'Shown once.' }),
      enrolmentExpiresAt: at.nullable(),
      approvalId: id.meta({ description: 'Into a partner agency: the request a compliance officer must approve first.' }).optional(),
    }),
  )
  .meta({ id: 'Invitation' });

export const PendingRole = z.intersection(User, z.object({ pendingRole: z.string(), approvalId: id })).meta({ id: 'PendingRole' });

export const PendingReset = z
  .intersection(User, z.object({ approvalId: id.meta({ description: 'An approver’s reset waits for another compliance officer, who hands over the code.' }) }))
  .meta({ id: 'PendingReset' });

export const Client = z
  .object({
    id,
    clientId: z.string(),
    agency: z.string(),
    role: z.string(),
    serviceUserId: id,
    approval: oneOf(['pending', 'approved', 'rejected']),
    allowedUserIds: z.array(id).meta({ description: 'The people it may act for (on_behalf_of), as approved.' }),
    disabledAt: at.nullable(),
    createdAt: at,
    keys: z.array(z.object({ kid: z.string().optional(), kty: z.string().optional(), alg: z.string().optional() })),
  })
  .meta({ id: 'Client' });

export const PendingClientUsers = z.intersection(Client, z.object({ pendingAllowedUserIds: z.array(id), approvalId: id })).meta({ id: 'PendingClientUsers' });

export const SigningKey = z
  .object({ kid: z.string(), alg: z.string(), status: z.string(), createdAt: at, activatesAt: at, retireAfter: at.nullable() })
  .meta({ id: 'SigningKey' });

export const KeyRotation = z
  .intersection(SigningKey, z.object({ publishDelaySeconds: z.number().int(), keys: z.array(SigningKey) }))
  .meta({ id: 'KeyRotation' });
