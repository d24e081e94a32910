import type { Request } from 'express';
import type { Logger } from 'pino';
import { errorSummary } from '../logger.js';
import { runStatement, transaction, type Db, type Executor, type Tx } from '../db/client.js';
import { HttpProblem, ServiceUnavailable } from '../errors/problems.js';
import { appendAccessLog, readAndAppend, type LoggedRead } from './append.js';
import type { AuditEntry } from './entry.js';
import type { AuditAction } from './vocabulary.js';

/** What a unit of work may say about itself for its log entry. */
export type AuditFacts = Pick<AuditEntry, 'subjectId' | 'tier' | 'basis' | 'breakGlass' | 'reason' | 'detail'>;

/** What a read's work gets, whether it runs in a transaction (`run`) or as one statement (`once`). */
export interface ReadScope {
  /** Where to read what decides the request (the policy's context): never data that leaves. */
  db: Executor;
  /** Adds facts to this request's log entry (allowed or denied alike). */
  note(facts: AuditFacts): void;
  /** The read of the data that leaves, with the entry as noted so far: see `once`. */
  read<R>(statement: LoggedRead, values: unknown[]): Promise<R[]>;
}

export interface AuditScope extends ReadScope {
  tx: Tx;
}

// Refusals that are decisions about access and so belong in the log; bad input is not one.
const DENIAL_STATUSES = new Set([401, 403, 404]);

/**
 * Runs person-data work and its access-log entry in one transaction (SPEC principle 3).
 * The response is built only from what `work` returns after the commit, so if the entry cannot
 * be written nothing is disclosed: the transaction rolls back and the caller gets a 503.
 * A denial rolls back the work and is logged in a transaction of its own, again failing closed.
 */
export class AuditedRunner {
  constructor(
    private readonly db: Db,
    private readonly logger: Logger,
  ) {}

  async run<T>(req: Request, action: AuditAction, work: (scope: AuditScope) => Promise<T>): Promise<T> {
    const entry: AuditEntry = { requestId: req.id, actor: req.user, action, decision: 'allow' };
    const note = (facts: AuditFacts) => Object.assign(entry, facts);
    try {
      return await transaction(this.db, async (tx) => {
        const result = await work(transactionScope(tx, note));
        await appendAccessLog(tx, entry);
        return result;
      });
    } catch (err) {
      return this.failed(err, entry, true);
    }
  }

  /**
   * A read whose data and entry go in one statement (`LoggedRead.withEntry`), which is its own
   * transaction: SPEC principle 3 without BEGIN and COMMIT. `work` may first read what decides
   * the request on `db`, then calls `read` once; the entry is written with the facts noted by
   * then, and only if the read found a row (or the read logs `always`). A refusal thrown before
   * it is logged as in `run`.
   */
  async once<T>(req: Request, action: AuditAction, work: (scope: ReadScope) => Promise<T>): Promise<T> {
    const entry: AuditEntry = { requestId: req.id, actor: req.user, action, decision: 'allow' };
    const note = (facts: AuditFacts) => Object.assign(entry, facts);
    let written = false;
    const read = async <R>(statement: LoggedRead, values: unknown[]) => {
      if (written) throw new Error('a request reads with its entry once');
      const rows = await readAndAppend<R>(this.db, statement, values, entry);
      written = statement.always || rows.length > 0;
      return rows;
    };
    try {
      const result = await work({ db: this.db, note, read });
      if (!written) throw new Error('the work returned without its logged read');
      return result;
    } catch (err) {
      // A refusal after the entry was written is not logged again: the entry stands for the request.
      return this.failed(err, entry, !written);
    }
  }

  /**
   * How audited work that threw ends: a refusal that belongs in the log is logged as a denial
   * (when `logDenial`) and rethrown; another HTTP problem is rethrown; anything else is a 503,
   * since the data and its entry did not both commit.
   */
  private async failed(err: unknown, entry: AuditEntry, logDenial: boolean): Promise<never> {
    const reason = loggedDenial(err);
    if (reason && logDenial) await this.deny({ ...entry, decision: 'deny', tier: null, reason });
    if (err instanceof HttpProblem) throw err;
    this.logger.error({ requestId: entry.requestId, action: entry.action, err: errorSummary(err) }, 'audited work failed');
    throw new ServiceUnavailable('The request could not be completed and logged; no data was disclosed.');
  }

  /** Writes a denial on its own; if even that fails, the request ends as a 503. */
  deny(entry: AuditEntry): Promise<void> {
    return this.record({ ...entry, decision: 'deny' });
  }

  /** Writes one entry that goes with no data read (a denial, a token issued); fails closed. */
  async record(entry: AuditEntry): Promise<void> {
    try {
      await appendAccessLog(this.db, entry);
    } catch (err) {
      this.logger.error({ requestId: entry.requestId, action: entry.action, err: errorSummary(err) }, 'access log unwritable');
      throw new ServiceUnavailable();
    }
  }
}

/** The scope of work in a transaction that appends its entry at the end: reads are plain. */
export function transactionScope(tx: Tx, note: (facts: AuditFacts) => void): AuditScope {
  return { tx, db: tx, note, read: <R>(statement: LoggedRead, values: unknown[]) => runStatement<R>(tx, statement.plain, values) };
}

/** The reason to log when `err` is a refusal that belongs in the log (401, 403, 404); else undefined. */
export function loggedDenial(err: unknown): string | undefined {
  return err instanceof HttpProblem && DENIAL_STATUSES.has(err.status) ? denialReason(err) : undefined;
}

function denialReason(err: HttpProblem): string {
  const reason = (err as { reason?: unknown }).reason;
  return typeof reason === 'string' ? reason : err.status === 404 ? 'not-found' : `status-${err.status}`;
}
