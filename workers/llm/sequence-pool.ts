// Lends the sequences of one llama context to jobs, one job per sequence at a time, in the order jobs asked.
import type { LlamaContext, LlamaContextSequence } from 'node-llama-cpp';

export class SequencePool {
  private readonly all: LlamaContextSequence[] = [];
  private readonly free: LlamaContextSequence[] = [];
  private readonly waiting: ((s: LlamaContextSequence) => void)[] = [];

  /** Takes up to `n` sequences the context has left (at least one must be left). */
  constructor(context: LlamaContext, n: number) {
    const count = Math.max(1, Math.min(n, context.sequencesLeft));
    for (let i = 0; i < count; i++) this.all.push(context.getSequence());
    this.free.push(...this.all);
  }

  get size(): number {
    return this.all.length;
  }

  /**
   * Runs `job` on a free sequence, or on the first one freed. The sequence keeps the tokens of its last job:
   * node-llama-cpp evaluates only what differs from them and erases the rest, so the system prompt that most
   * probes share is read once per sequence, not once per probe (on the bench model ~1,450 prompt tokens, not 2,384), and
   * nothing of the last job's own turns or response stays in the window.
   */
  async use<T>(job: (s: LlamaContextSequence) => Promise<T>): Promise<T> {
    const s = this.free.shift() ?? await new Promise<LlamaContextSequence>((resolve) => this.waiting.push(resolve));
    try {
      return await job(s);
    } finally {
      const next = this.waiting.shift();
      if (next) next(s);
      else this.free.push(s);
    }
  }

  /** Gives the sequences back to the context (a later request may need one). */
  async dispose(): Promise<void> {
    await Promise.all(this.all.filter((s) => !s.disposed).map((s) => s.dispose()));
  }
}
