import { and, gte, sql } from 'drizzle-orm';
import type { AuditScope } from '../../audit/audited.js';
import { accessLog } from '../../db/schema/index.js';

export interface DailyCount {
  day: string;
  agency: string;
  decision: string;
  n: number;
}

/** Entries per UTC day, acting agency and decision over the last `days` days (counts only, no person data). */
export async function accessesPerDay({ tx, note }: AuditScope, days = 30, now = new Date()): Promise<DailyCount[]> {
  const from = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - (days - 1)));
  const day = sql<string>`to_char(${accessLog.at} at time zone 'UTC', 'YYYY-MM-DD')`;
  const rows = await tx
    .select({
      day,
      agency: sql<string>`coalesce(${accessLog.actorAgency}, '(none)')`,
      decision: accessLog.decision,
      n: sql<number>`count(*)::int`.mapWith(Number),
    })
    .from(accessLog)
    .where(and(gte(accessLog.at, from)))
    .groupBy(day, accessLog.actorAgency, accessLog.decision)
    .orderBy(day);
  note({ basis: [{ rule: 'audit' }], detail: { activity: { from, days } } });
  return rows;
}
