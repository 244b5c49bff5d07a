// A chosen reply subject must never make a responder publish somewhere else: not an event (a forged
// `vault.panicked`), not a state, not another actor's op, not the JetStream API, not a stranger's inbox.
import t, { type Test } from 'tap';
import { jetstreamManager } from '@nats-io/jetstream';
import type { Msg } from '@nats-io/nats-core';
import { MANIFESTS } from '../../runtime/catalog.js';
import { allowedCallers, compileAcl } from '../../bus/acl.js';
import type { BusClient } from '../../bus/client.js';
import { encode } from '../../bus/codec.js';
import { serveManifest, type Handler } from '../../bus/service.js';
import { effectiveManifest } from '../../bus/standard-ops.js';
import { AUDIT_STREAMS, commandSubject, inboxIdentity, serveSubject } from '../../bus/subjects.js';
import { createLogger } from '../../common/log.js';
import { startTestBus, type TestBus } from '../helpers/bus.js';

const eff = MANIFESTS.map(effectiveManifest);
const callers = allowedCallers(MANIFESTS);
const acl = compileAcl(MANIFESTS);

/** Every subject an op or command of the catalog is served on, with its responder. */
const served = eff.flatMap((m) => [
  ...Object.keys(m.serves).map((op) => ({ responder: m.name, subject: serveSubject(m.name, op) })),
  ...Object.keys(m.commands).map((op) => ({ responder: m.name, subject: commandSubject(m.name, op) })),
]);

/**
 * Reply subjects an attacker would choose: facts, states, other ops, the JetStream API, and the inboxes of
 * identities that may not ask `subject` (`askers`: of this op, for serveManifest's check; of anything the
 * responder serves, for the server's, whose permissions are per responder).
 */
function forgedReplies(subject: string, askers: ReadonlySet<string>): string[] {
  const out = [
    'secai.evt.vault.panicked', 'secai.evt.registry.removed', 'secai.evt.supervisor.appliance_ready',
    'secai.state.vault', 'secai.vault.lock', 'secai.cmd.vault.panic', 'secai.registry.remove',
    `$JS.API.STREAM.DELETE.${AUDIT_STREAMS.events.name}`, `$JS.API.STREAM.PURGE.${AUDIT_STREAMS.commands.name}`,
    '_INBOX', 'inbox.gateway.x',
  ];
  for (const m of eff) if (!askers.has(m.name)) out.push(`_INBOX.${m.name}.forged`);
  return out;
}

const REQUEST = encode({});
const isRequest = (data: Uint8Array) => data.length === REQUEST.length && data.every((b, i) => b === REQUEST[i]);
const HONEST_INBOX = /^_INBOX\.[a-z][a-z0-9_-]*\.[A-Za-z0-9]{22}\.[A-Za-z0-9]+$/;

/** Whether `subject` matches a NATS pattern (`*` one token, `>` the rest). */
function matches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const x = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return x.length > i;
    if (i >= x.length || (p[i] !== '*' && p[i] !== x[i])) return false;
  }
  return p.length === x.length;
}

/** Subjects `who` may publish anyway: the server cannot tell an answer there from a plain publish. */
const ownSubjects = (who: string) => acl.find((a) => a.name === who)!.permissions.publish.allow;

/** Every identity that may ask `responder` anything. */
function askersOf(responder: string): Set<string> {
  return new Set(served.filter((x) => x.responder === responder).flatMap((x) => [...(callers.get(x.subject) ?? [])]));
}

/** One connection per identity subscribed to everything it may receive: together they see every subject anyone reads. */
async function sniffers(bus: TestBus): Promise<{ leaks: string[]; clients: BusClient[] }> {
  const leaks: string[] = [];
  const clients: BusClient[] = [];
  for (const id of acl) {
    const c = await bus.connect(id.name);
    clients.push(c);
    for (const subj of id.permissions.subscribe.allow) {
      // Requests carry a reply subject; an answer published onto a chosen subject does not. The honest
      // requests' answers go to muxed inboxes (`_INBOX.<id>.<nuid>.<token>`), which no forged reply uses.
      // The probes' own requests without a reply subject carry REQUEST ({}), which no answer is.
      c.nc.subscribe(subj, { callback: (_e, m) => { if (!m.reply && !HONEST_INBOX.test(m.subject) && !isRequest(m.data)) leaks.push(`${m.subject} (seen by ${id.name})`); } });
    }
    await c.nc.flush();
  }
  return { leaks, clients };
}

async function streamsIntact(t: Test, bus: TestBus): Promise<void> {
  const sup = await bus.connect('supervisor');
  const jsm = await jetstreamManager(sup.nc);
  for (const st of Object.values(AUDIT_STREAMS)) {
    const info = await jsm.streams.info(st.name);
    t.equal(info.config.name, st.name, `${st.name} still exists`);
  }
}

t.test('reply forgery — the server refuses a responder\'s answer onto any subject outside its askers\' inboxes', async (t) => {
  const bus = await startTestBus(MANIFESTS, { streams: true });
  t.teardown(() => bus.stop());
  const { leaks } = await sniffers(bus);
  // Each responder is a bare subscription that answers everything: a buggy or compromised actor.
  const answered: string[] = [];
  for (const m of eff) {
    const r = await bus.connect(m.name);
    for (const { subject } of served.filter((x) => x.responder === m.name)) {
      r.nc.subscribe(subject, { callback: (_e, msg: Msg) => { answered.push(msg.reply ?? ''); try { msg.respond(encode({ ok: true, data: null })); } catch { /* lint-ok: refused by the server's permissions, which is the point */ } } });
    }
    await r.nc.flush();
  }
  let sent = 0;
  for (const { subject, responder } of served) {
    for (const asker of callers.get(subject) ?? []) {
      const q = await bus.connect(asker);
      // The responder's own events and state are its to publish: only serveManifest's check (below) keeps answers off them.
      const targets = forgedReplies(subject, askersOf(responder)).filter((x) => !ownSubjects(responder).some((p) => matches(p, x)));
      for (const reply of targets) { q.nc.publish(subject, REQUEST, { reply }); sent++; }
      await q.nc.flush();
      // One honest request after the forged ones: when it is answered, the responder has seen them all.
      await q.nc.request(subject, REQUEST, { timeout: 5000 });
      await q.close();
    }
  }
  for (const c of acl) { const x = await bus.connect(c.name); await x.nc.flush(); }
  t.ok(sent > 500, `${sent} forged requests sent, ${answered.length} answered by the careless responders`);
  t.same(leaks, [], 'no answer landed anywhere but an asker\'s inbox');
  await streamsIntact(t, bus);
});

t.test('reply forgery — serveManifest drops a request whose reply subject is not an asker\'s inbox, unhandled', async (t) => {
  const bus = await startTestBus(MANIFESTS, { streams: true });
  t.teardown(() => bus.stop());
  const { leaks } = await sniffers(bus);
  const handled: { subject: string; replyTo: string }[] = [];
  const handler = (subject: string): Handler => (_req, call) => { handled.push({ subject, replyTo: call.replyTo }); return null; };
  for (const m of eff) {
    const r = await bus.connect(m.name);
    const ops = Object.fromEntries(Object.keys(m.serves).map((op) => [op, handler(serveSubject(m.name, op))]));
    const commands = Object.fromEntries(Object.keys(m.commands).map((op) => [op, handler(commandSubject(m.name, op))]));
    serveManifest({ bus: r, manifest: m, ops, commands, operators: { lookup: () => undefined }, log: createLogger('test', 'silent'), callers, auditCommands: false });
    await r.nc.flush();
  }
  let sent = 0;
  for (const { subject } of served) {
    for (const asker of callers.get(subject) ?? []) {
      const q = await bus.connect(asker);
      for (const reply of forgedReplies(subject, callers.get(subject) ?? new Set())) { q.nc.publish(subject, REQUEST, { reply }); sent++; }
      q.nc.publish(subject, REQUEST); // no reply subject at all
      await q.nc.flush();
      // The honest request is answered (ops) or refused for its missing signature (commands): either way, it is seen.
      await q.nc.request(subject, REQUEST, { timeout: 5000 });
      await q.close();
    }
  }
  for (const c of acl) { const x = await bus.connect(c.name); await x.nc.flush(); }
  // Ops whose request schema takes {} reach their handler; the forged copies of those must not.
  const forged = handled.filter((h) => !callers.get(h.subject)?.has(inboxIdentity(h.replyTo) ?? ''));
  t.ok(sent > 500, `${sent} forged requests sent`);
  t.ok(handled.length >= eff.filter((m) => m.kind === 'actor').length * 3, `${handled.length} honest requests were handled (ping, describe, snapshot at least)`);
  t.same(forged, [], 'no request with a forged reply subject reached a handler');
  t.same(leaks, [], 'nothing was published anywhere');
  await streamsIntact(t, bus);
});
