// Typed request/reply shapes shared by machines: an op becomes an event with a requestId, the machine answers with an emitted reply.
import { ErrorCode } from '../common/errors.js';

/** An error as it crosses the bus: a stable SECAI_E_* code and a message. */
export interface Failure { code: string; message: string }

/** What a machine emits to answer a request event; `runtime/ask.ts` awaits the one with its requestId. */
export type Reply =
  | { type: 'reply'; requestId: string; ok: true; data: unknown }
  | { type: 'reply'; requestId: string; ok: false; error: Failure };

/** Every request event carries the id its reply will name (made by the asker, unique per process). */
export interface Request { requestId: string }

/** An effect's rejection as a Failure (effects throw SecaiError; anything else becomes ErrorCode.INTERNAL). */
export const asFailure = (e: unknown): Failure => {
  const x = e as { code?: unknown; message?: unknown } | null;
  return { code: typeof x?.code === 'string' ? x.code : ErrorCode.INTERNAL, message: typeof x?.message === 'string' ? x.message : String(e) };
};

/**
 * When a rejected effect failed: effects stamp their rejections with `at` (runtime/stamp.ts) so machines never read
 * the clock themselves; 0 when a rejection carries no stamp.
 */
export const failedAt = (e: unknown): number => {
  const at = (e as { at?: unknown } | null)?.at;
  return typeof at === 'number' && Number.isFinite(at) ? at : 0;
};

/** The reply with data, for `emit(({ event }) => replyOk(event.requestId, …))`. */
export const replyOk = (requestId: string, data: unknown): Reply => ({ type: 'reply', requestId, ok: true, data });

/** The reply with an error (a stable code from common/errors). */
export const replyError = (requestId: string, error: Failure): Reply => ({ type: 'reply', requestId, ok: false, error });
