import { and, desc, eq, isNull, lt, sql } from 'drizzle-orm';
import type { Db, Executor } from '../db/client.js';
import { auditVerifyJobs, users } from '../db/schema/index.js';
import type { LogExport, VerifyReport } from './verify.js';

// Whole-log verifications, kept in the database so that every worker and instance sees the same
// job: at most one runs per deployment (a partial unique index on unfinished jobs), in the worker
// that accepted it, which renews its lease while it works. A job whose lease lapsed (its worker
// died or was stopped) counts as failed and no longer blocks the next one.

/** How long a running job's worker may go without renewing its lease before the job is abandoned. */
export const VERIFY_LEASE_MS = 60_000;
const HEARTBEAT_MS = 10_000;
// Finished jobs are kept this long (a few rows; their report names no person).
const KEEP_FINISHED = sql`interval '30 days'`;

export type VerifyPhase = 'reading' | 'checking' | 'done' | 'failed';

export interface VerifyJob {
  id: string;
  requestedBy: string;
  /** The username of whoever started it, for "started by … at …". */
  requestedByName: string;
  phase: VerifyPhase;
  entries: number | null;
  startedAt: Date;
  finishedAt: Date | null;
  report: VerifyReport | null;
  /** True when its worker stopped renewing the lease: shown as failed, and no longer blocking. */
  abandoned: boolean;
}

const lapsed = (leaseMs: number) => sql`${auditVerifyJobs.heartbeatAt} < now() - ${leaseMs} * interval '1 millisecond'`;

const columns = {
  id: auditVerifyJobs.id,
  requestedBy: auditVerifyJobs.requestedBy,
  requestedByName: users.username,
  phase: auditVerifyJobs.phase,
  entries: auditVerifyJobs.entries,
  startedAt: auditVerifyJobs.startedAt,
  finishedAt: auditVerifyJobs.finishedAt,
  report: auditVerifyJobs.report,
  // Judged by the database's clock, as the lease is written, whichever host reads it.
  lapsed: sql<boolean>`${auditVerifyJobs.finishedAt} is null and ${lapsed(VERIFY_LEASE_MS)}`,
};

const selectJobs = (db: Executor) => db.select(columns).from(auditVerifyJobs).innerJoin(users, eq(users.id, auditVerifyJobs.requestedBy));

function present({ lapsed: abandoned, ...row }: Awaited<ReturnType<typeof selectJobs>>[number]): VerifyJob {
  return { ...row, phase: abandoned ? 'failed' : (row.phase as VerifyPhase), report: row.report as VerifyReport | null, abandoned };
}

/** One job by id, or undefined. */
export async function verifyJobOf(db: Executor, id: string): Promise<VerifyJob | undefined> {
  const [row] = await selectJobs(db).where(eq(auditVerifyJobs.id, id)).limit(1);
  return row && present(row);
}

/** The deployment's running job (its lease still held), or undefined. */
export async function runningVerifyJob(db: Executor): Promise<VerifyJob | undefined> {
  const [row] = await selectJobs(db)
    .where(and(isNull(auditVerifyJobs.finishedAt), sql`not ${lapsed(VERIFY_LEASE_MS)}`))
    .orderBy(desc(auditVerifyJobs.startedAt))
    .limit(1);
  return row && present(row);
}

/**
 * Starts a job for `userId` unless one is running: `started` is the new job, `running` the one
 * to wait for. A job whose lease lapsed is closed as failed first, so a dead worker blocks no one
 * for longer than the lease. The unique index decides between two starts at the same moment.
 */
export async function claimVerifyJob(
  db: Db,
  userId: string,
  leaseMs = VERIFY_LEASE_MS,
  attempts = 3,
): Promise<{ started: VerifyJob } | { running: VerifyJob }> {
  const claimed = await db.transaction(async (tx) => {
    await tx
      .update(auditVerifyJobs)
      .set({ phase: 'failed', finishedAt: sql`now()` })
      .where(and(isNull(auditVerifyJobs.finishedAt), lapsed(leaseMs)));
    await tx.delete(auditVerifyJobs).where(lt(auditVerifyJobs.finishedAt, sql`now() - ${KEEP_FINISHED}`));
    const [row] = await tx.insert(auditVerifyJobs).values({ requestedBy: userId }).onConflictDoNothing().returning({ id: auditVerifyJobs.id });
    return row?.id;
  });
  if (claimed) return { started: (await verifyJobOf(db, claimed))! };
  const running = await runningVerifyJob(db);
  if (running) return { running };
  // The running one finished between the insert and this read: try again.
  if (attempts <= 1) throw new Error('could not start or find a verification');
  return claimVerifyJob(db, userId, leaseMs, attempts - 1);
}

/**
 * Runs a claimed job here: reads the log, checks it, and records each phase and the report,
 * renewing the lease meanwhile. Updates apply only while the job is unfinished, so a job that was
 * abandoned (and closed by another worker) is never reopened. Never throws: a failure is a phase.
 */
export async function runVerifyJob(
  db: Db,
  id: string,
  steps: { read(): Promise<LogExport>; check(data: LogExport): Promise<VerifyReport> },
  heartbeatMs = HEARTBEAT_MS,
): Promise<void> {
  const mine = and(eq(auditVerifyJobs.id, id), isNull(auditVerifyJobs.finishedAt));
  const record = ({ finished, ...values }: { phase?: VerifyPhase; entries?: number; report?: VerifyReport; finished?: true }) =>
    db
      .update(auditVerifyJobs)
      .set({ ...values, heartbeatAt: sql`now()`, ...(finished ? { finishedAt: sql`now()` } : {}) })
      .where(mine);
  const lease = setInterval(() => void record({}).catch(() => undefined), heartbeatMs);
  lease.unref();
  try {
    const data = await steps.read();
    await record({ phase: 'checking', entries: data.leaves.length });
    const report = await steps.check(data);
    await record({ phase: 'done', report, finished: true });
  } catch {
    // The reason stays out of the job (it could be anything); the log entry of the read says what was read.
    await record({ phase: 'failed', finished: true }).catch(() => undefined);
  } finally {
    clearInterval(lease);
  }
}
