// Builds StageResults and turns any unexpected throw into an 'error' verdict (fail closed).
import type { StageName, StageResult, Verdict } from './types.js';

export function stageResult(stage: StageName, started: number, verdict: Verdict, reason: string, evidence: Record<string, unknown>): StageResult {
  return { stage, verdict, reason, evidence, durationMs: Math.round(performance.now() - started) };
}

/** Runs `body`; an exception becomes verdict 'error' with its message, never an uncaught throw. */
export async function guarded(stage: StageName, body: (started: number) => Promise<StageResult> | StageResult): Promise<StageResult> {
  const started = performance.now();
  try {
    return await body(started);
  } catch (e) {
    const err = e as { message?: string; code?: string };
    return stageResult(stage, started, 'error', `the ${stage} stage could not finish: ${err.message ?? String(e)}`, { error: err.message ?? String(e), ...(err.code ? { code: err.code } : {}) });
  }
}
