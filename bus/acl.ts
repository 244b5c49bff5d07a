// The ACL compiler: manifests in, per-identity NATS permissions out. Everything not declared is denied.
import type { ActorManifest } from './manifest.js';
import { effectiveManifest } from './standard-ops.js';
import {
  commandSubject, eventPattern, eventSubject, inboxPrefix, isToken, serveSubject, stateSubject, ALL_STATES,
} from './subjects.js';
import { ErrorCode, SecaiError } from '../common/errors.js';

export interface Permissions {
  publish: { allow: string[] };
  subscribe: { allow: string[] };
  /** Lets a responder answer the reply subject of a request it received, once, within a few seconds. */
  allow_responses?: { max: number; expires: string };
}

export interface CompiledIdentity {
  name: string;
  kind: ActorManifest['kind'];
  permissions: Permissions;
}

const JS_API = '$JS.API';
/** How many messages a streaming responder may send to one reply subject (chunks plus the final reply). */
export const STREAM_MAX_RESPONSES = 100_000;

function fail(msg: string): never {
  throw new SecaiError(ErrorCode.CONFIG_INVALID, `acl: ${msg}`);
}

/** Checks the manifests against each other: every request, subscription and command names something declared. */
export function validateManifests(manifests: readonly ActorManifest[]): ActorManifest[] {
  const eff = manifests.map(effectiveManifest);
  const byName = new Map<string, ActorManifest>();
  for (const m of eff) {
    if (!isToken(m.name)) fail(`invalid identity name '${m.name}'`);
    if (byName.has(m.name)) fail(`identity '${m.name}' declared twice`);
    byName.set(m.name, m);
  }
  const ref = (r: string, who: string): [string, string] => {
    const [a, b, ...rest] = r.split('.');
    if (!a || !b || rest.length) fail(`${who}: malformed reference '${r}'`);
    return [a, b];
  };
  for (const m of eff) {
    for (const r of m.requests) {
      const [a, op] = ref(r, m.name);
      if (!byName.get(a)?.serves[op]) fail(`${m.name} requests '${r}', which no identity serves`);
    }
    for (const r of m.subscribes) {
      const [a, ev] = ref(r, m.name);
      if (a === '*') continue;
      const target = byName.get(a);
      if (!target) fail(`${m.name} subscribes '${r}': no identity '${a}'`);
      if (ev !== '*' && !target.publishes[ev]) fail(`${m.name} subscribes '${r}', which '${a}' does not publish`);
    }
    for (const r of m.sends ?? []) {
      const [a, op] = ref(r, m.name);
      if (a === '*' && op === '*') continue;
      if (!byName.get(a)?.commands[op]) fail(`${m.name} sends '${r}', which no identity accepts`);
    }
    if (m.kind === 'actor' && !m.entry) fail(`actor ${m.name} has no process entry`);
  }
  return eff;
}

/** Compiles validated manifests into NATS permissions, one identity each. */
export function compileAcl(manifests: readonly ActorManifest[]): CompiledIdentity[] {
  const eff = validateManifests(manifests);
  const allCommands = eff.flatMap((m) => Object.keys(m.commands).map((op) => commandSubject(m.name, op)));

  return eff.map((m) => {
    const pub = new Set<string>();
    const sub = new Set<string>([`${inboxPrefix(m.name)}.>`]);

    for (const ev of Object.keys(m.publishes)) pub.add(eventSubject(m.name, ev));
    if (m.kind === 'actor') pub.add(stateSubject(m.name));
    for (const op of Object.keys(m.serves)) sub.add(serveSubject(m.name, op));
    for (const op of Object.keys(m.commands)) sub.add(commandSubject(m.name, op));
    for (const r of m.requests) {
      const [a, op] = r.split('.') as [string, string];
      pub.add(serveSubject(a, op));
    }
    for (const r of m.subscribes) sub.add(eventPattern(r));
    for (const r of m.sends ?? []) {
      const [a, op] = r.split('.') as [string, string];
      if (a === '*' && op === '*') allCommands.forEach((c) => pub.add(c));
      else pub.add(commandSubject(a, op));
    }
    if (m.watchesState) sub.add(ALL_STATES);
    if (m.jetstream?.admin) pub.add(`${JS_API}.>`);
    for (const stream of m.jetstream?.consume ?? []) {
      // A durable pull consumer on one stream: info, create/lookup its consumer, fetch, and ack.
      pub.add(`${JS_API}.INFO`);
      pub.add(`${JS_API}.STREAM.INFO.${stream}`);
      pub.add(`${JS_API}.CONSUMER.INFO.${stream}.>`);
      pub.add(`${JS_API}.CONSUMER.CREATE.${stream}.>`);
      pub.add(`${JS_API}.CONSUMER.DURABLE.CREATE.${stream}.>`);
      pub.add(`${JS_API}.CONSUMER.MSG.NEXT.${stream}.>`);
      pub.add(`$JS.ACK.${stream}.>`);
    }

    const serves = Object.keys(m.serves).length + Object.keys(m.commands).length > 0;
    // A streaming responder answers one request with many messages (tokens), for as long as a generation runs.
    const streams = Object.values(m.serves).some((op) => op.stream === true);
    // The server drops a reply sent after `expires`: the window covers the slowest op the identity declares
    // (registry.promote hashes a model for up to 10 min), at least 30 s, plus 5 s for the trip back.
    const slowest = Math.max(30_000, ...[...Object.values(m.serves), ...Object.values(m.commands)].map((op) => op.timeoutMs ?? 5000));
    const window = `${Math.ceil(slowest / 1000) + 5}s`;
    return {
      name: m.name,
      kind: m.kind,
      permissions: {
        publish: { allow: [...pub].sort() },
        subscribe: { allow: [...sub].sort() },
        ...(serves && { allow_responses: streams ? { max: STREAM_MAX_RESPONSES, expires: slowest > 900_000 ? window : '15m' } : { max: 1, expires: window } }),
      },
    };
  });
}
