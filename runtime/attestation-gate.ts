// The startup gate of actors that release secrets or load models: they go on only while the attestor says `attested`.
import type { BusClient } from '../bus/client.js';
import { onEvent } from '../bus/events.js';
import { serveOp } from '../bus/op-ref.js';
import { s } from '../bus/schema.js';
import { ErrorCode, SecaiError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { attestorManifest } from './catalog.js';

/** An `attested` answer is believed this long without asking again (any attestor event ends it sooner). */
export const ATTESTED_TTL_MS = 5000;
/** How long the gate waits for the attestor: no answer is a refusal (fail closed). */
const ASK_MS = 3000;

export interface AttestationGate {
  /** Resolves when the runtime state is attested; rejects with SECAI_E_NOT_ATTESTED otherwise (measuring, failed, no answer). */
  require(what: string): Promise<void>;
  close(): void;
}

/**
 * Asks `attestor.status` and keeps an `attested` answer (with its state digest) for a few seconds, so an unlock does
 * not wait on a round trip each time; an `attested` or `failed` event from the attestor drops it, so the next gate asks
 * again. The subscriber's manifest must list `attestor.attested` and `attestor.failed` (and request `attestor.status`).
 */
export function attestationGate(bus: BusClient, log: Logger, ttlMs = ATTESTED_TTL_MS): AttestationGate {
  let held: { stateDigest: string; until: number } | undefined;
  const drop = () => { held = undefined; };
  const subs = [onEvent(bus, 'attestor', 'attested', s.record(), log, drop), onEvent(bus, 'attestor', 'failed', s.record(), log, drop)];
  return {
    async require(what) {
      if (held && held.until > Date.now()) return;
      let st;
      try {
        st = await bus.call(serveOp(attestorManifest, 'status'), {}, ASK_MS);
      } catch (err) {
        throw new SecaiError(ErrorCode.NOT_ATTESTED, `${what} refused: the attestor did not answer (${(err as Error).message})`, { cause: err });
      }
      if (st.state !== 'attested' || !st.stateDigest) {
        throw new SecaiError(ErrorCode.NOT_ATTESTED, `${what} refused: the runtime state is ${st.state}${st.failure ? ` (${st.failure.code}: ${st.failure.reason})` : ''}`);
      }
      held = { stateDigest: st.stateDigest, until: Date.now() + ttlMs };
    },
    close: () => { for (const sub of subs) sub.unsubscribe(); },
  };
}
