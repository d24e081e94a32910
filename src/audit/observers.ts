import type { AuditEntry } from './entry.js';

/**
 * Who wants to know about access-log writes (the metrics): told of each entry appended (before
 * its transaction commits) and of each append that failed. Listeners must not throw; they are
 * called synchronously and never see the database.
 */
export interface AppendObserver {
  appended(entry: AuditEntry): void;
  failed(entry: AuditEntry): void;
}

const observers = new Set<AppendObserver>();

export function observeAppends(observer: AppendObserver): () => void {
  observers.add(observer);
  return () => observers.delete(observer);
}

/** Wraps one append: the hook in append.ts. `appended` says whether it wrote (a read that found nothing does not). */
export async function observed<T>(entry: AuditEntry, append: () => Promise<T>, appended: (result: T) => boolean = () => true): Promise<T> {
  try {
    const result = await append();
    if (appended(result)) for (const o of observers) o.appended(entry);
    return result;
  } catch (err) {
    for (const o of observers) o.failed(entry);
    throw err;
  }
}
