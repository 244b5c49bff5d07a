// The server, not our code, enforces the ACL: every identity is refused every subject its manifest does not declare.
import t from 'tap';
import { PermissionViolationError } from '@nats-io/nats-core';
import { MANIFESTS } from '../../runtime/catalog.js';
import { effectiveManifest } from '../../bus/standard-ops.js';
import type { ActorManifest } from '../../bus/manifest.js';
import { startTestBus } from '../helpers/bus.js';

const eff = MANIFESTS.map(effectiveManifest);

/** Every concrete subject the catalog names, plus ones nobody should touch. */
function candidateSubjects(): string[] {
  const out = new Set<string>(['secai.nobody.op', 'secai.evt.nobody.x', '$JS.API.STREAM.DELETE.AUDIT_EVT', '$JS.API.STREAM.PURGE.AUDIT_CMD', '$SYS.REQ.SERVER.PING', 'anything']);
  for (const m of eff) {
    for (const op of Object.keys(m.serves)) out.add(`secai.${m.name}.${op}`);
    for (const op of Object.keys(m.commands)) out.add(`secai.cmd.${m.name}.${op}`);
    for (const ev of Object.keys(m.publishes)) out.add(`secai.evt.${m.name}.${ev}`);
    out.add(`secai.state.${m.name}`);
    out.add(`_INBOX.${m.name}.probe`);
  }
  return [...out];
}

/** The oracle, written from the manifest's meaning rather than from the compiler's output. */
function mayPublish(m: ActorManifest, subject: string): boolean {
  const [, a, b, c] = subject.split('.');
  // Replies go into the inbox of an identity that asks m something (a request of one of its ops, a command).
  if (subject.startsWith('_INBOX.')) {
    const asker = eff.find((x) => x.name === a);
    return !!asker && (asker.requests.some((r) => r.split('.')[0] === m.name || (r.startsWith('*.') && m.kind === 'actor')) ||
      (asker.sends ?? []).some((r) => (r === '*.*' ? Object.keys(m.commands).length > 0 : r.split('.')[0] === m.name)));
  }
  if (subject.startsWith('$JS.API.')) return m.jetstream?.admin === true;
  if (subject.startsWith('secai.evt.')) return b === m.name ? c! in m.publishes : false;
  if (subject.startsWith('secai.state.')) return (m.kind === 'actor' || m.kind === 'supervisor') && b === m.name;
  if (subject.startsWith('secai.cmd.')) {
    const sends = m.sends ?? [];
    return sends.includes('*.*') || sends.includes(`${b}.${c}`);
  }
  if (subject.startsWith('secai.') && a && b) return m.requests.includes(`${a}.${b}`) || (m.requests.includes(`*.${b}`) && eff.some((x) => x.name === a && x.kind === 'actor'));
  return false;
}

function maySubscribe(m: ActorManifest, subject: string): boolean {
  const [, a, b, c] = subject.split('.');
  if (subject.startsWith('_INBOX.')) return a === m.name;
  if (subject.startsWith('secai.evt.')) return m.subscribes.some((r) => { const [x, y] = r.split('.'); return (x === '*' || x === b) && (y === '*' || y === c); });
  if (subject.startsWith('secai.state.')) return m.watchesState === true;
  if (subject.startsWith('secai.cmd.')) return b === m.name && c! in m.commands;
  if (subject.startsWith('secai.') && a && b && a === m.name) return b in m.serves;
  return false;
}

t.test('acl deny matrix — real nats-server refuses every undeclared publish and subscribe', async (t) => {
  const bus = await startTestBus(MANIFESTS);
  t.teardown(() => bus.stop());
  const subjects = candidateSubjects();
  let denied = 0;
  let allowed = 0;
  for (const m of eff) {
    const c = await bus.connect(m.name);
    const violations = new Set<string>();
    void (async () => {
      for await (const s of c.nc.status()) {
        const err = (s as { error?: unknown }).error;
        if (err instanceof PermissionViolationError) violations.add(`${err.operation}:${err.subject}`);
      }
    })();
    const subs = subjects.map((subj) => ({ subj, sub: c.nc.subscribe(subj) }));
    for (const subj of subjects) c.nc.publish(subj, new Uint8Array([0x80]));
    await c.nc.flush();
    await new Promise((r) => setTimeout(r, 50));
    for (const subj of subjects) {
      const pubDenied = violations.has(`publish:${subj}`);
      const subDenied = violations.has(`subscription:${subj}`);
      const wantPub = mayPublish(m, subj);
      const wantSub = maySubscribe(m, subj);
      if (pubDenied === wantPub) t.fail(`${m.name} publish ${subj}: expected ${wantPub ? 'allowed' : 'denied'}`);
      if (subDenied === wantSub) t.fail(`${m.name} subscribe ${subj}: expected ${wantSub ? 'allowed' : 'denied'}`);
      denied += Number(pubDenied) + Number(subDenied);
      allowed += Number(!pubDenied) + Number(!subDenied);
    }
    subs.forEach(({ sub }) => sub.unsubscribe());
    await c.close();
  }
  t.ok(denied > eff.length * subjects.length, `server denied ${denied} of ${denied + allowed} probes`);
  t.ok(allowed > eff.length, `and allowed the ${allowed} declared ones`);
});

t.test('acl — no identity can read another identity\'s replies', async (t) => {
  const bus = await startTestBus(MANIFESTS);
  t.teardown(() => bus.stop());
  const names = eff.map((m) => m.name);
  for (const spy of names) {
    const c = await bus.connect(spy);
    for (const victim of names.filter((n) => n !== spy)) {
      const sub = c.nc.subscribe(`_INBOX.${victim}.>`);
      const wild = c.nc.subscribe('_INBOX.>');
      await c.nc.flush();
      const [e1, e2] = await Promise.all([sub.closed, wild.closed]);
      t.ok(e1 instanceof PermissionViolationError, `${spy} cannot subscribe ${victim}'s inbox`);
      t.ok(e2 instanceof PermissionViolationError, `${spy} cannot subscribe all inboxes`);
    }
    await c.close();
  }
});
