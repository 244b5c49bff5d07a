// Slots for long-lived event streams (SSE): a cap for the whole gateway and a smaller one per session.
import { ErrorCode, SecaiError } from '../../common/errors.js';

/**
 * Each stream holds a bus subscription and a poll loop, so their number is bounded; the per-session
 * cap keeps one session (or a stolen cookie) from taking every slot and locking the others out.
 */
export class StreamSlots {
  private total = 0;
  private readonly bySession = new Map<string, number>();

  constructor(readonly max: number, readonly perSession: number) {}

  /** Takes a slot for `session` or throws TOO_MANY_STREAMS (429); the returned release is idempotent. */
  take(session: string): () => void {
    const mine = this.bySession.get(session) ?? 0;
    if (mine >= this.perSession) throw new SecaiError(ErrorCode.TOO_MANY_STREAMS, `this session already has ${mine} event streams open (at most ${this.perSession}): close one first`);
    if (this.total >= this.max) throw new SecaiError(ErrorCode.TOO_MANY_STREAMS, `too many event streams open on the gateway (at most ${this.max}): try again later`);
    this.total++;
    this.bySession.set(session, mine + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      const left = (this.bySession.get(session) ?? 1) - 1;
      if (left > 0) this.bySession.set(session, left);
      else this.bySession.delete(session);
    };
  }

  get open(): number { return this.total; }
}
