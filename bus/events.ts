// Acting on another actor's events: the subject names the publisher (the ACL lets only it publish
// there), and the payload must match that publisher's declared schema before anything acts on it.
import type { Subscription } from '@nats-io/nats-core';
import type { BusClient } from './client.js';
import { decode, DEFAULT_MAX_PAYLOAD } from './codec.js';
import { check, type JsonSchema, type Static } from './schema.js';
import { eventSubject } from './subjects.js';
import type { Logger } from '../common/log.js';

/**
 * Subscribes `secai.evt.<actor>.<event>` and calls `handler` with each payload that decodes and
 * matches `schema` (typed from it); anything else is logged (at most once a minute, with a count) and dropped.
 * Handlers run one at a time in arrival order, as BusClient.subscribe does.
 */
export function onEvent<S extends JsonSchema>(
  bus: BusClient, actor: string, event: string, schema: S, log: Logger,
  handler: (payload: Static<S>) => void | Promise<void>,
): Subscription {
  const subject = eventSubject(actor, event);
  let lastWarn = 0;
  let dropped = 0;
  return bus.subscribe(subject, (msg) => {
    let payload: Static<S>;
    try {
      if (msg.subject !== subject) throw new Error(`arrived on ${msg.subject}`);
      payload = check(schema, decode(msg.data, DEFAULT_MAX_PAYLOAD), `${actor}.${event}`);
    } catch (err) {
      dropped++;
      if (Date.now() - lastWarn > 60_000) {
        log.warn({ subject, dropped, err: (err as Error).message }, 'ignored a malformed event');
        lastWarn = Date.now();
        dropped = 0;
      }
      return;
    }
    return handler(payload);
  });
}
