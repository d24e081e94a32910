import type { Request, Response } from 'express';
import { sql } from 'drizzle-orm';
import type { Logger } from 'pino';
import { queryRows, type Db, type Executor, type Tx } from '../db/client.js';
import { HttpProblem, NotFound, ServiceUnavailable } from '../errors/problems.js';
import { errorSummary } from '../logger.js';
import type { AuditedRunner, AuditFacts } from './audited.js';
import type { AuditAction } from './vocabulary.js';

/** How current an audit answer is: read on the primary, or on a replica as of its last replay. */
export interface Freshness {
  source: 'primary' | 'replica';
  /** When the data read was current: the primary's clock, or the replica's last replayed commit. */
  asOf: string | null;
  /** On a replica: whether it had replayed everything it had received when the read began. */
  caughtUp: boolean;
}

export interface AuditRead<T> {
  /** What the request's log entry says (rule, query, subject), known before anything is read. */
  facts: AuditFacts;
  /**
   * Checked on the primary in the log entry's transaction before anything is read: throw a
   * refusal (404 for an unknown person) and it is logged as the denial, as on any route.
   */
  precheck?: (tx: Tx) => Promise<void>;
  /** The read itself; `undefined` means what the precheck found is not there (404 / 503). */
  read: (db: Executor) => Promise<T | undefined>;
  /** Facts added once the result is known (counts). Only on the primary; see below. */
  after?: (result: T) => AuditFacts;
}

/**
 * Audit reads (searches of the access log, accountings of disclosures and their exports), on the
 * primary or on a read-only streaming replica (AUDIT_DATABASE_URL).
 *
 * On the primary they run as every person-data read does: the read and its log entry in one
 * transaction (SPEC principle 3). A replica cannot take the entry, and a transaction cannot span
 * two servers, so there the order is: the entry is written and committed on the primary first
 * (with the precheck in its transaction), and only then is the replica read. If the entry cannot
 * be written nothing is read (503, fail closed); if the replica fails afterwards the request is a
 * 503 and the entry stands, recording a request that disclosed nothing, never the reverse. What
 * only the result can tell (how many rows came back) is therefore not in a replica read's entry.
 */
export class AuditReads {
  constructor(
    private readonly runner: AuditedRunner,
    private readonly logger: Logger,
    private readonly replica?: Db,
  ) {}

  get source(): Freshness['source'] {
    return this.replica ? 'replica' : 'primary';
  }

  async run<T>(req: Request, action: AuditAction, read: AuditRead<T>): Promise<{ result: T; freshness: Freshness }> {
    if (!this.replica) {
      return this.runner.run(req, action, async ({ tx, note }) => {
        note(read.facts);
        await read.precheck?.(tx);
        const result = await read.read(tx);
        if (result === undefined) throw new NotFound('subject');
        if (read.after) note(merge(read.facts, read.after(result)));
        return { result, freshness: { source: 'primary' as const, asOf: new Date().toISOString(), caughtUp: true } };
      });
    }

    await this.runner.run(req, action, async ({ tx, note }) => {
      note(merge(read.facts, { detail: { readFrom: 'replica' } }));
      await read.precheck?.(tx);
    });
    const replica = this.replica;
    try {
      return await replica.transaction(
        async (rtx) => {
          const freshness = await replicaFreshness(rtx);
          const result = await read.read(rtx);
          // The primary knew the person; a replica that does not yet is behind.
          if (result === undefined) throw new ServiceUnavailable('The audit replica is behind the primary; try again shortly.');
          return { result, freshness };
        },
        { isolationLevel: 'repeatable read', accessMode: 'read only' },
      );
    } catch (err) {
      if (err instanceof HttpProblem) throw err;
      this.logger.error({ requestId: req.id, action, err: errorSummary(err) }, 'audit replica read failed');
      throw new ServiceUnavailable('The audit replica could not be read; the request was logged and nothing was disclosed.');
    }
  }
}

function merge(a: AuditFacts, b: AuditFacts): AuditFacts {
  return { ...a, ...b, detail: { ...a.detail, ...b.detail } };
}

/** The replica's last replayed commit, and whether it had replayed all it had received. */
export async function replicaFreshness(db: Executor): Promise<Freshness> {
  const [row] = await queryRows<{ recovery: boolean; replayed: Date | string | null; now: Date | string; caught_up: boolean | null }>(
    db,
    sql`select pg_is_in_recovery() as recovery, pg_last_xact_replay_timestamp() as replayed, now() as now,
               pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() as caught_up`,
  );
  // Pointed at a server that is not in recovery (a primary): it is current by definition.
  if (!row!.recovery) return { source: 'replica', asOf: new Date(row!.now).toISOString(), caughtUp: true };
  return { source: 'replica', asOf: row!.replayed === null ? null : new Date(row!.replayed).toISOString(), caughtUp: row!.caught_up === true };
}

/** Says on the response where an audit answer was read and how current it is. */
export function setFreshnessHeaders(res: Response, freshness: Freshness): void {
  res.set('Audit-Source', freshness.source);
  if (freshness.asOf) res.set('Audit-As-Of', freshness.asOf);
}
