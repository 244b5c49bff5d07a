// Asks a machine: sends a request event with a fresh requestId and resolves with the machine's emitted reply (or times out).
import { randomUUID } from 'node:crypto';
import { ErrorCode, SecaiError } from '../common/errors.js';
import type { Reply } from '../machines/request.js';

/** The part of an XState actor that asking needs (any machine that emits `Reply`). */
export interface Askable {
  send(event: never): void;
  on(type: 'reply', handler: (e: Reply) => void): { unsubscribe(): void };
}

/**
 * Sends `event` plus a new requestId and waits for the `reply` the machine emits for it: data on ok, a SecaiError
 * with the machine's code otherwise. A machine answers every request event in every state (a refusal is an answer),
 * so the timeout only catches a bug or an effect that hangs.
 */
export function ask<T = unknown>(actor: Askable, event: { type: string } & Record<string, unknown>, timeoutMs = 60_000): Promise<T> {
  const requestId = randomUUID();
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      sub.unsubscribe();
      reject(new SecaiError(ErrorCode.TIMEOUT, `no answer to ${event.type} within ${timeoutMs} ms`));
    }, timeoutMs);
    const sub = actor.on('reply', (r) => {
      if (r.requestId !== requestId) return;
      clearTimeout(timer);
      sub.unsubscribe();
      if (r.ok) resolve(r.data as T);
      else reject(new SecaiError(r.error.code, r.error.message));
    });
    (actor.send as (e: unknown) => void)({ ...event, requestId });
  });
}
