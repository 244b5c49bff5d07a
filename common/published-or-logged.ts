// Events that could not be published: each failure is logged and counted (an actor's ping and the supervisor's status show the count), never swallowed.
import type { Logger } from './log.js';

/** One line per event name per this many ms at most, so a bus outage does not flood the log; the count stays exact. */
const LOG_EVERY_MS = 10_000;

export class UnpublishedEvents {
  /** Events that failed to publish since this process started. */
  count = 0;
  private readonly lastLogged = new Map<string, { at: number; suppressed: number }>();

  /**
   * @param log where a failure is written (with the event name and the error)
   * @param onCount told the new total after each failure (the actor host forwards it to the supervisor over IPC,
   *   which works when the bus does not)
   */
  constructor(
    private readonly log: Logger,
    private readonly onCount?: (count: number) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Waits for `publishing` and resolves true when it succeeded; when it failed, logs and counts the failure and
   * resolves false. Never rejects: the caller goes on (an event is a report of what happened, and what happened
   * stands), but the loss is on record.
   */
  async settle(event: string, publishing: Promise<unknown>): Promise<boolean> {
    try {
      await publishing;
      return true;
    } catch (err) {
      this.failed(event, err);
      return false;
    }
  }

  /** Records one event that could not be published. */
  failed(event: string, err: unknown): void {
    this.count++;
    const at = this.now();
    const last = this.lastLogged.get(event);
    if (last && at - last.at < LOG_EVERY_MS) {
      last.suppressed++;
    } else {
      const suppressed = last?.suppressed ?? 0;
      this.lastLogged.set(event, { at, suppressed: 0 });
      this.log.error({ event, err: errorText(err), unpublishedEvents: this.count, ...(suppressed && { suppressedSinceLastLine: suppressed }) }, `event ${event} not published`);
    }
    try {
      this.onCount?.(this.count);
    } catch (reportErr) {
      this.log.warn({ err: errorText(reportErr) }, 'could not report the unpublished-event count');
    }
  }
}

function errorText(err: unknown): string {
  if (err instanceof Error) return `${(err as { code?: unknown }).code ? `${String((err as { code?: unknown }).code)}: ` : ''}${err.message}`;
  return String(err);
}
