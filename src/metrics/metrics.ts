import pg from 'pg';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { sql } from 'drizzle-orm';
import { passwordVerifications } from '../auth/passwords.js';
import { observeAppends } from '../audit/observers.js';
import type { AuditEntry } from '../audit/entry.js';
import { queryRows, type Db } from '../db/client.js';

// Label values come from fixed vocabularies (actions, tiers, rule names, route patterns). Anything
// else, and anything that looks like an id, is folded into `other`: a label never names a person,
// a user or a request.
const SAFE_LABEL = /^[A-Za-z/][A-Za-z0-9:_./-]{0,99}$/;
const ID_LIKE = /[0-9a-f]{8}-[0-9a-f]{4}|@|\d{4,}/i;
export const safeLabel = (value: string | null | undefined, none = 'none'): string =>
  value == null || value === '' ? none : SAFE_LABEL.test(value) && !ID_LIKE.test(value) ? value : 'other';

let processRegistry: Registry | undefined;

/** Node.js process series (CPU, memory, event-loop lag, GC), once per process. */
export function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry, prefix: 'tiergate_' });
  }
  return processRegistry;
}

interface LogState {
  queueLength: number;
  oldestAge: number;
  checkpointAge: number;
}

/** A count of the seal queue (which the sealer keeps short) and two index lookups. */
async function readLogState(db: Db): Promise<LogState | undefined> {
  try {
    const [row] = await queryRows<{ length: number; oldest: string | null; checkpoint: string | null }>(
      db,
      sql`select (select count(*) from audit_seal_queue)::int as length,
                 (select extract(epoch from now() - l.at) from access_log l
                   where l.id = (select entry_id from audit_seal_queue order by seq limit 1)) as oldest,
                 (select extract(epoch from now() - issued_at) from audit_checkpoints order by tree_size desc limit 1) as checkpoint`,
    );
    return {
      queueLength: row!.length,
      oldestAge: row!.oldest === null ? 0 : Math.max(0, Number(row!.oldest)),
      checkpointAge: row!.checkpoint === null ? Number.NaN : Math.max(0, Number(row!.checkpoint)),
    };
  } catch {
    return undefined;
  }
}

/** Databases whose pools are reported, by role: `primary`, and `audit` when a replica serves audit reads. */
export type Pools = Partial<Record<'primary' | 'audit', Db>>;

export interface Metrics {
  registry: Registry;
  /** One finished HTTP request: its route pattern (never the URL), method and status. */
  observeRequest(route: string, method: string, status: number, seconds: number): void;
  /** Stops listening to access-log writes (tests that build many apps in one process). */
  close(): void;
}

const poolOf = (db: Db): pg.Pool | undefined => {
  const client = (db as unknown as { $client?: unknown }).$client;
  return client instanceof pg.Pool ? client : undefined;
};

/**
 * The gateway's Prometheus series in a registry of its own. Counters and histograms move as
 * requests and log writes happen; the seal queue, the latest checkpoint and the pools are read
 * when scraped (two index lookups and a count of the seal queue, which the sealer keeps short).
 */
export function createMetrics(db: Db, pools: Pools = { primary: db }): Metrics {
  const registry = new Registry();

  const requests = new Counter({
    name: 'tiergate_http_requests_total',
    help: 'HTTP requests answered, by route pattern, method and status.',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'tiergate_http_request_duration_seconds',
    help: 'Time to answer an HTTP request, by route pattern, method and status.',
    labelNames: ['route', 'method', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const decisions = new Counter({
    name: 'tiergate_access_decisions_total',
    help: 'Access-log entries appended: decision, action, tier granted, the basis rule of the highest tier, the deny reason.',
    labelNames: ['decision', 'action', 'tier', 'basis', 'reason'] as const,
    registers: [registry],
  });
  const writeFailures = new Counter({
    name: 'tiergate_access_log_write_failures_total',
    help: 'Access-log entries that could not be written (each failed its request closed, 503).',
    registers: [registry],
  });

  new Counter({
    name: 'tiergate_password_verifications_total',
    help: 'argon2id password verifications run by this process (exactly one per password or enrolment attempt checked; none for a throttled one).',
    registers: [registry],
    // The count lives with the one verify function (src/auth/passwords.ts); read it when scraped.
    collect() {
      this.reset();
      this.inc(passwordVerifications());
    },
  });

  // Scraped values that every instance sees alike: under node:cluster the primary keeps one
  // worker's answer (`max`) instead of adding them up. The three come from one query, shared by
  // the three gauges' collect() calls of a scrape (the registry runs them concurrently).
  let reading: Promise<LogState | undefined> | undefined;
  const logState = () =>
    (reading ??= readLogState(db).finally(() => {
      reading = undefined;
    }));
  const logGauge = (name: string, help: string, value: (s: LogState) => number) =>
    new Gauge({
      name,
      help,
      aggregator: 'max',
      registers: [registry],
      async collect() {
        const state = await logState();
        // The database is unreachable: the series goes missing (alert on its absence).
        if (state) this.set(value(state));
        else this.reset();
      },
    });
  logGauge('tiergate_seal_queue_length', 'Access-log entries committed but not yet sealed into the Merkle tree.', (s) => s.queueLength);
  logGauge('tiergate_seal_queue_oldest_age_seconds', 'Age of the oldest access-log entry not yet sealed (0 when the queue is empty).', (s) => s.oldestAge);
  logGauge('tiergate_checkpoint_age_seconds', 'Age of the latest signed checkpoint of the access log (NaN before the first).', (s) => s.checkpointAge);
  const poolGauge = (name: string, help: string, value: (pool: pg.Pool) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['pool'] as const,
      registers: [registry],
      collect() {
        for (const [role, database] of Object.entries(pools)) {
          const pool = database && poolOf(database);
          if (pool) this.set({ pool: role }, value(pool));
        }
      },
    });
  poolGauge(
    'tiergate_db_pool_connections_in_use',
    'Pool connections checked out (primary, and the audit replica when set).',
    (p) => p.totalCount - p.idleCount,
  );
  poolGauge('tiergate_db_pool_connections_idle', 'Pool connections open and idle.', (p) => p.idleCount);
  poolGauge('tiergate_db_pool_waiting', 'Queries waiting for a pool connection.', (p) => p.waitingCount);

  const stop = observeAppends({
    appended: (entry: AuditEntry) =>
      decisions.inc({
        decision: safeLabel(entry.decision),
        action: safeLabel(entry.action),
        tier: safeLabel(entry.tier),
        basis: safeLabel(entry.basis?.[0]?.rule),
        reason: safeLabel(entry.reason),
      }),
    failed: () => writeFailures.inc(),
  });

  return {
    registry,
    observeRequest(route, method, status, seconds) {
      const labels = { route: safeLabel(route, 'unmatched'), method: safeLabel(method), status: String(status) };
      requests.inc(labels);
      duration.observe(labels, seconds);
    },
    close: () => void stop(),
  };
}
