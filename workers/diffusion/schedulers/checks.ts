// Argument checks shared by the schedulers: a wrong index or length is a pipeline bug, refused before any math.
import { ErrorCode, SecaiError } from '../../../common/errors.js';
import type { Scheduler } from './types.js';

export function checkIndex(i: number, steps: number, what: string): void {
  if (!Number.isInteger(i) || i < 0 || i >= steps) {
    throw new SecaiError(ErrorCode.INTERNAL, `${what}: step index must be an integer from 0 to ${steps - 1}, got ${String(i)}`);
  }
}

export function checkSameLength(a: Float32Array, b: Float32Array, what: string): void {
  if (a.length !== b.length) throw new SecaiError(ErrorCode.INTERNAL, `${what}: arrays differ in length (${a.length} and ${b.length})`);
}

/** `stepAt` behind the checks every scheduler's step makes first (`what` names it in the error). */
export function checkedStep(what: string, steps: number, stepAt: Scheduler['step']): Scheduler['step'] {
  return (modelOutput, i, sample, rng) => {
    checkIndex(i, steps, what);
    checkSameLength(modelOutput, sample, what);
    return stepAt(modelOutput, i, sample, rng);
  };
}
