// Machines never read the clock: an effect that fails says when, on its rejection (machines/request.ts failedAt reads it).
import { asFailure } from '../machines/request.js';

/** Runs an effect; a rejection is rethrown stamped with `at` (ms since the epoch), its code and message kept. */
export async function stampFailure<T>(run: () => Promise<T> | T, now: () => number = Date.now): Promise<T> {
  try {
    return await run();
  } catch (err) {
    const at = now();
    if (err !== null && typeof err === 'object' && Object.isExtensible(err)) throw Object.assign(err, { at });
    // A frozen error or a thrown primitive: a new error with the same code and message.
    const { code, message } = asFailure(err);
    throw Object.assign(new Error(message), { code, at, cause: err });
  }
}
