import { z } from 'zod';

// The documented demo defaults. They exist so that `npm start` works on a fresh clone; production
// refuses to start while any of them is in use (see `assertProductionReady`).
export const DEMO_PASSWORD_DEFAULT = 'tiergate-demo';
export const DEMO_KEY_ENCRYPTION_KEY = Buffer.alloc(32, 'tiergate-demo-key-encryption-key').toString('base64');

const schema = z.object({
  /** TCP port the HTTP server listens on. */
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  /** `production` disables the demo tenancy and the demo defaults; anything else is demo mode. */
  NODE_ENV: z.string().default('development'),
  /** PostgreSQL URL the gateway serves requests with (a least-privilege role). Unset: embedded PGlite. */
  DATABASE_URL: z.string().url().optional(),
  /** PostgreSQL URL of the schema owner, used only to apply migrations. Defaults to DATABASE_URL. */
  MIGRATION_DATABASE_URL: z.string().url().optional(),
  /**
   * PostgreSQL URL of a read-only streaming replica for audit reads (searches of the access log,
   * accountings of disclosures, exports). Unset: they run on the primary. Every write, each audit
   * read's own log entry included, and the break-glass review stay on the primary.
   */
  AUDIT_DATABASE_URL: z.string().url().optional(),
  /** The sharing protocol the gateway enforces (validated at start-up); unset: policies/protocol.yaml. */
  POLICY_FILE: z.string().min(1).optional(),
  /** Folder of the embedded PGlite database (used when DATABASE_URL is unset); kept across restarts. */
  DATA_DIR: z.string().default('./data'),
  /** Password of every demo user; demo mode only. */
  DEMO_PASSWORD: z.string().min(8).default(DEMO_PASSWORD_DEFAULT),
  /** Base64 of 32 random bytes; encrypts the signing keys' private halves and users' TOTP secrets at rest (AES-256-GCM). */
  KEY_ENCRYPTION_KEY: z.string().default(DEMO_KEY_ENCRYPTION_KEY),
  /** The `iss` of every access token, normally the gateway's public base URL. */
  TOKEN_ISSUER: z.string().min(1).default('http://localhost:3000'),
  /** The `aud` every access token must carry. */
  TOKEN_AUDIENCE: z.string().min(1).default('tiergate-api'),
  /** Access-token lifetime in seconds; SPEC caps it at 15 minutes. */
  TOKEN_TTL_SECONDS: z.coerce.number().int().min(60).max(900).default(900),
  /**
   * Absolute lifetime of a console session, in hours from the sign-in, whatever the activity
   * (the idle logoff, 15 minutes, is fixed in code). Token re-issues keep the sign-in's time.
   */
  SESSION_MAX_HOURS: z.coerce.number().int().min(1).max(24).default(12),
  /**
   * How often the access log is sealed into the Merkle tree, in ms. A checkpoint is signed on the
   * policy's own schedule (`checkpoints.everySeconds`), checked at each sealing.
   */
  SEAL_INTERVAL_MS: z.coerce.number().int().min(200).max(3_600_000).default(5_000),
  /**
   * Which proxies in front may name the client address in X-Forwarded-For (Express `trust proxy`):
   * unset trusts none; a hop count (`1`), or addresses and subnets (`loopback`, `10.0.0.0/8`, ...).
   * The login throttle counts failures per client address, so behind a TLS proxy set this, or
   * every client shares the proxy's address. `true` (trust anyone) is refused: it lets a client
   * pick its own address.
   */
  TRUST_PROXY: z
    .string()
    .default('')
    .refine((v) => v.trim().toLowerCase() !== 'true', 'must name hops or addresses, not `true`')
    .refine((v) => /^[\w.:/,\s-]*$/.test(v), 'must be a hop count or a comma-separated list of addresses/subnets')
    .transform((v): number | string | false => {
      const t = v.trim();
      if (t === '' || t.toLowerCase() === 'false') return false;
      return /^\d+$/.test(t) ? Number(t) : t;
    }),
  /** Largest accepted request body. */
  BODY_LIMIT: z.string().default('64kb'),
  /** Connections in the gateway's PostgreSQL pool. */
  DB_POOL_MAX: z.coerce.number().int().min(1).max(1000).default(10),
  /**
   * Longest wait for a pooled PostgreSQL connection (or for a new one to connect), in ms. A
   * request that waits longer answers 503 with Retry-After instead of queueing without bound.
   */
  DB_POOL_WAIT_MS: z.coerce.number().int().min(1).max(600_000).default(2_000),
  /** PostgreSQL statement_timeout for every statement the gateway sends, in ms (0: none). */
  DB_STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(0).max(3_600_000).default(5_000),
  /** PostgreSQL lock_timeout: how long a statement waits for a lock (a locked log table) before the request answers 503, in ms (0: none). */
  DB_LOCK_TIMEOUT_MS: z.coerce.number().int().min(0).max(3_600_000).default(2_000),
  /** Seconds a 503 asks the client to wait (`Retry-After`). */
  RETRY_AFTER_SECONDS: z.coerce.number().int().min(1).max(3600).default(2),
  /**
   * Longest drain on SIGTERM, in ms: in-flight requests and the sealer's batch get this long,
   * then remaining connections are cut and the process exits with status 1.
   */
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(10_000),
  /** pino level for application logs (never carry person data). */
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Port of the Prometheus scrape endpoint `GET /metrics`, apart from the API's port. Unset: no metrics listener. */
  METRICS_PORT: z.coerce.number().int().min(1).max(65535).optional(),
  /** Address the metrics listener binds; loopback by default, `0.0.0.0` for a scraper on the network. */
  METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  /** Worker processes on this host (node:cluster); 1 runs the gateway in a single process. */
  WEB_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(1),
  /** `pretty` (coloured lines), `json` (JSON lines) or `auto`: pretty in a terminal outside production, else JSON. */
  LOG_FORMAT: z.enum(['auto', 'json', 'pretty']).default('auto'),
  /** IANA time zone the console shows times in ("21:50 EST"); the log itself keeps UTC. */
  CONSOLE_TIME_ZONE: z
    .string()
    .default('UTC')
    .refine((zone) => {
      try {
        new Intl.DateTimeFormat('en-GB', { timeZone: zone });
        return true;
      } catch {
        return false;
      }
    }, 'must be an IANA time zone such as America/New_York'),
});

export type Config = z.infer<typeof schema> & { demoMode: boolean; keyEncryptionKey: Buffer };

export class ConfigError extends Error {}

/** Parses and checks the environment once; throws a ConfigError naming every bad key. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const keys = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration: ${keys.join('; ')}`);
  }
  const keyEncryptionKey = Buffer.from(parsed.data.KEY_ENCRYPTION_KEY, 'base64');
  if (keyEncryptionKey.length !== 32) throw new ConfigError('KEY_ENCRYPTION_KEY must be base64 of 32 bytes');
  const config = { ...parsed.data, demoMode: parsed.data.NODE_ENV !== 'production', keyEncryptionKey };
  if (!config.demoMode) assertProductionReady(config, env);
  return config;
}

// Production must be configured explicitly: no demo secret, no embedded database, a real issuer.
function assertProductionReady(config: Config, env: NodeJS.ProcessEnv): void {
  const missing = ['DATABASE_URL', 'KEY_ENCRYPTION_KEY', 'TOKEN_ISSUER', 'TOKEN_AUDIENCE'].filter((k) => !env[k]);
  if (missing.length > 0) throw new ConfigError(`production requires ${missing.join(', ')}`);
  if (config.KEY_ENCRYPTION_KEY === DEMO_KEY_ENCRYPTION_KEY) {
    throw new ConfigError('production refuses the demo KEY_ENCRYPTION_KEY');
  }
}
