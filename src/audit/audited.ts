import type { Request } from 'express';
import type { Logger } from 'pino';
import { errorSummary } from '../logger.js';
import { transaction, type Db, type Executor, type Tx } from '../db/client.js';
import { HttpProblem, ServiceUnavailable } from '../errors/problems.js';
import { appendAccessLog, readAndAppend, type LoggedRead } from './append.js';
import type { AuditEntry } from './entry.js';
import type { AuditAction } from './vocabulary.js';

/** What a unit of work may say about itself for its log entry. */
export type AuditFacts = Pick<AuditEntry, 'subjectId' | 'tier' | 'basis' | 'breakGlass' | 'reason' | 'detail'>;

/**
 * A logged read with its values, and how its rows make an answer: what a repository hands to
 * `disclose`. The rows are whatever `read` selects.
 */
export interface DisclosingRead<T> {
  read: LoggedRead;
  values: unknown[];
  shape(rows: never[]): T;
}

/**
 * The read of the data that leaves with the facts that complete its entry: made by `disclose`
 * and returned by the work, which ends there. The runner runs the statement; `shape` gets the
 * rows and nothing to note with.
 */
export class Disclosure<T> {
  constructor(
    readonly query: DisclosingRead<T>,
    readonly facts: AuditFacts,
  ) {}

  /** The same disclosure, its answer made into another (no database, nothing to note). */
  map<U>(f: (answer: T) => U): Disclosure<U> {
    const { read, values, shape } = this.query;
    return new Disclosure({ read, values, shape: (rows) => f(shape(rows)) }, this.facts);
  }
}

/** What work that discloses gets while it decides, before its disclosure (`read`, and `run`). */
export interface ReadScope {
  /** Where to read what decides the request (the policy's context): never data that leaves. */
  db: Executor;
  /** Facts known while deciding (the person asked for): a refusal is logged with them too. */
  note(facts: AuditFacts): void;
  /** The work's last step, to return: `query` read with the entry, completed by `facts`. */
  disclose<T>(query: DisclosingRead<T>, facts: AuditFacts): Disclosure<T>;
}

/** What work in a transaction gets (`run`): it may also end in a disclosure, made in the transaction. */
export interface AuditScope extends ReadScope {
  tx: Tx;
}

const disclose = <T>(query: DisclosingRead<T>, facts: AuditFacts) => new Disclosure(query, facts);

// Refusals that are decisions about access and so belong in the log; bad input is not one.
const DENIAL_STATUSES = new Set([401, 403, 404]);

/**
 * Runs audited work and its access-log entry so that the entry commits with the work or neither
 * happens (SPEC principle 3), in one of two ways that share one rule for the entry:
 *
 * - `read`: work that discloses and writes nothing. It decides on `db` (each read its own
 *   statement), then returns its `Disclosure`: the data and the entry are one statement, which is
 *   its own transaction, without BEGIN and COMMIT. (A read that found nothing writes no entry;
 *   work that answers all the same has its entry appended on its own before the answer leaves.)
 * - `run`: work in a transaction (`tx`): writes, and what they may disclose. The entry is appended
 *   at the end, or, when the work ends in a disclosure, written by the disclosing statement.
 *
 * The rule in both: the entry has the facts noted while deciding and those the disclosure brings;
 * the data that leaves is read with the entry in hand, and after it nothing can be noted (the
 * disclosure is the work's return value, `shape` gets only rows; a `note` kept from before throws).
 * The response is built only from what the work returns after the commit: if the entry cannot be
 * written nothing is disclosed (503). A refusal (401, 403, 404) before the entry is written is
 * logged as a denial on its own, again failing closed.
 *
 * Isolation. PostgreSQL runs at READ COMMITTED (the default; PGlite, one connection, interleaves
 * requests statement by statement): every statement reads its own snapshot, in a transaction or
 * not, so the decision's reads and the disclosing read do not share one. What is committed
 * between them is seen by the second only. The disclosing read takes the decision with it (the
 * record read: the entries by id, and the grants' filter again; a search: the people by id), so
 * nothing the decision did not release can leave, and what vanished in between is named by the
 * entry but not shown (the entry over-states, never under-states); but a consent
 * revoked, or a case closed, in the instant between the two statements still lets this one
 * request disclose what the decision released under it, and its entry names that consent or case
 * in `basis`. That is the order the two commits happened in (the decision read the consent
 * before the revocation committed), as for a request already in flight; the revocation counts
 * from the next request (SECURITY.md). Preventing it would take the decision's rows locked
 * (`FOR SHARE`) or one REPEATABLE READ snapshot, so a transaction and two more round trips on
 * every read; the record read is two statements (tokens.test.ts counts them).
 */
export class AuditedRunner {
  constructor(
    private readonly db: Db,
    private readonly logger: Logger,
  ) {}

  /** Work that discloses and writes nothing: it decides on `db`, then returns its disclosure. */
  async read<T>(req: Request, action: AuditAction, work: (scope: ReadScope) => Promise<Disclosure<T>>): Promise<T> {
    const unit = new Unit(req, action);
    try {
      const disclosure = await work(unit.scope(this.db));
      if (!(disclosure instanceof Disclosure)) throw new Error('the work returned without its disclosure');
      const answer = await unit.disclosed(this.db, disclosure);
      if (!unit.written) await appendAccessLog(this.db, unit.entry);
      return answer;
    } catch (err) {
      // A refusal after the entry was written is not logged again: the entry stands for the request.
      return this.failed(err, unit.entry, !unit.written);
    }
  }

  /** Work in a transaction; it may end in a disclosure, whose statement then writes the entry. */
  async run<T>(req: Request, action: AuditAction, work: (scope: AuditScope) => Promise<T | Disclosure<T>>): Promise<T> {
    const unit = new Unit(req, action);
    try {
      return await transaction(this.db, async (tx) => {
        const done = await work({ ...unit.scope(tx), tx });
        const answer = done instanceof Disclosure ? await unit.disclosed(tx, done) : done;
        if (!unit.written) await appendAccessLog(tx, unit.entry);
        return answer;
      });
    } catch (err) {
      // The transaction rolled back, the entry with it: a refusal is logged on its own.
      return this.failed(err, unit.entry, true);
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

/** A transaction's scope whose work notes with `note` (the command-line tools' runner). */
export function transactionScope(tx: Tx, note: (facts: AuditFacts) => void): AuditScope {
  return { tx, db: tx, note, disclose };
}

/** The reason to log when `err` is a refusal that belongs in the log (401, 403, 404); else undefined. */
export function loggedDenial(err: unknown): string | undefined {
  return err instanceof HttpProblem && DENIAL_STATUSES.has(err.status) ? denialReason(err) : undefined;
}

function denialReason(err: HttpProblem): string {
  const reason = (err as { reason?: unknown }).reason;
  return typeof reason === 'string' ? reason : err.status === 404 ? 'not-found' : `status-${err.status}`;
}

/** One request's entry as its work goes: noted while deciding, then written with the disclosure. */
class Unit {
  readonly entry: AuditEntry;
  /** Whether the entry is written (by the disclosing statement). */
  written = false;
  private closed = false;

  constructor(req: Request, action: AuditAction) {
    this.entry = { requestId: req.id, actor: req.user, action, decision: 'allow' };
  }

  scope(db: Executor): ReadScope {
    return { db, note: (facts) => this.note(facts), disclose };
  }

  private note(facts: AuditFacts): void {
    if (this.closed) throw new Error('noted after the disclosure: the entry is written with it');
    Object.assign(this.entry, facts);
  }

  /** Runs the disclosure: its rows and the entry in one statement, then the answer made of them. */
  async disclosed<T>(db: Executor, disclosure: Disclosure<T>): Promise<T> {
    this.note(disclosure.facts);
    this.closed = true;
    const { read, values, shape } = disclosure.query;
    const rows = await readAndAppend<never>(db, read, values, this.entry);
    this.written = read.always || rows.length > 0;
    return shape(rows);
  }
}
