// The ACL compiler: manifests in, per-identity NATS permissions out. Everything not declared is denied.
import type { ActorManifest } from './manifest.js';
import { effectiveManifest, STANDARD_SERVES } from './standard-ops.js';
import {
  commandSubject, eventPattern, eventSubject, inboxPrefix, isToken, parseSubject, serveSubject, stateSubject, ALL_STATES,
} from './subjects.js';
import { ErrorCode, SecaiError } from '../common/errors.js';

export interface Permissions {
  publish: { allow: string[] };
  subscribe: { allow: string[] };
}

export interface CompiledIdentity {
  name: string;
  kind: ActorManifest['kind'];
  permissions: Permissions;
}

const JS_API = '$JS.API';

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
      // `*.<op>`: a standard op every actor process serves (the supervisor's bus ping), never an actor's own.
      if (a === '*') {
        if (!(op in STANDARD_SERVES)) fail(`${m.name} requests '${r}': only a standard op may be asked of every actor`);
        continue;
      }
      const spec = byName.get(a)?.serves[op];
      if (!spec) fail(`${m.name} requests '${r}', which no identity serves`);
      if (spec.callers && !spec.callers.includes(m.name)) fail(`${m.name} requests '${r}', which only ${spec.callers.join(', ')} may ask`);
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

/**
 * Who may ask what: for every served and command subject, the identities whose permissions let them
 * publish to it. A responder answers only into the inbox of one of these (serveManifest checks it, and
 * the server's permissions let it publish into no other inbox). Read off the compiled ACL, so the
 * responder's check and the server's permissions cannot disagree.
 */
export function allowedCallers(manifests: readonly ActorManifest[]): ReadonlyMap<string, ReadonlySet<string>> {
  return callersOf(compileAcl(manifests));
}

/** The subject → askers map of a compiled ACL (what `prepareBus` writes to `bus/callers.json`). */
export function callersOf(compiled: readonly CompiledIdentity[]): Map<string, Set<string>> {
  const callers = new Map<string, Set<string>>();
  for (const id of compiled) {
    for (const subject of id.permissions.subscribe.allow) {
      const p = parseSubject(subject);
      if (p && (p.kind === 'serve' || p.kind === 'command') && !callers.has(subject)) callers.set(subject, new Set());
    }
  }
  for (const id of compiled) {
    for (const subject of id.permissions.publish.allow) callers.get(subject)?.add(id.name);
  }
  return callers;
}

/** Compiles validated manifests into NATS permissions, one identity each. */
export function compileAcl(manifests: readonly ActorManifest[]): CompiledIdentity[] {
  const eff = validateManifests(manifests);
  const allCommands = eff.flatMap((m) => Object.keys(m.commands).map((op) => commandSubject(m.name, op)));
  const actorNames = eff.filter((m) => m.kind === 'actor').map((m) => m.name);

  const compiled: CompiledIdentity[] = eff.map((m) => {
    const pub = new Set<string>();
    const sub = new Set<string>([`${inboxPrefix(m.name)}.>`]);

    for (const ev of Object.keys(m.publishes)) pub.add(eventSubject(m.name, ev));
    // The supervisor publishes its slots' states (the Machines page draws supervision too).
    if (m.kind === 'actor' || m.kind === 'supervisor') pub.add(stateSubject(m.name));
    for (const op of Object.keys(m.serves)) sub.add(serveSubject(m.name, op));
    for (const op of Object.keys(m.commands)) sub.add(commandSubject(m.name, op));
    for (const r of m.requests) {
      const [a, op] = r.split('.') as [string, string];
      if (a === '*') actorNames.forEach((n) => pub.add(serveSubject(n, op)));
      else pub.add(serveSubject(a, op));
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

    return { name: m.name, kind: m.kind, permissions: { publish: { allow: [...pub].sort() }, subscribe: { allow: [...sub].sort() } } };
  });
  // Replies: into the inboxes of the identities that may ask this one something, and nowhere else.
  // No `allow_responses`: nats-server lets a response go to whatever reply subject the requester
  // chose, even one the responder's deny list names, so a chosen reply subject became a forged event.
  const callers = callersOf(compiled);
  for (const id of compiled) {
    const inboxes = new Set<string>();
    for (const subject of id.permissions.subscribe.allow) for (const who of callers.get(subject) ?? []) inboxes.add(`${inboxPrefix(who)}.>`);
    id.permissions.publish.allow = [...new Set([...id.permissions.publish.allow, ...inboxes])].sort();
  }
  return compiled;
}
