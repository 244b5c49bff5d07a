import t from 'tap';
import { allowedCallers, compileAcl, validateManifests } from '../../bus/acl.js';
import { effectiveManifest } from '../../bus/standard-ops.js';
import { defineManifest, type ActorManifest } from '../../bus/manifest.js';
import { s } from '../../bus/schema.js';
import { MANIFESTS } from '../../runtime/catalog.js';
import { ErrorCode } from '../../common/errors.js';

const alpha = defineManifest({
  name: 'alpha', kind: 'actor', description: 'test', entry: 'x.js',
  serves: { op: { request: s.empty(), reply: s.empty(), description: 'x' } },
  commands: {}, publishes: { happened: s.empty() }, requests: [], subscribes: [],
});
const beta = (over: Partial<ActorManifest>): ActorManifest => ({
  name: 'beta', kind: 'actor', description: 'test', entry: 'y.js',
  serves: {}, commands: {}, publishes: {}, requests: [], subscribes: [], ...over,
});

t.test('acl — the shipped catalog compiles and every identity gets its own inbox only', async (t) => {
  const ids = compileAcl(MANIFESTS);
  t.ok(ids.length >= 3);
  for (const id of ids) {
    const inboxes = id.permissions.subscribe.allow.filter((x) => x.startsWith('_INBOX.'));
    t.same(inboxes, [`_INBOX.${id.name}.>`], `${id.name} subscribes only its own inbox`);
    for (const p of id.permissions.publish.allow) {
      t.notOk(p === '>' || p === 'secai.>' || p === '_INBOX.>' || p === '_INBOX.*.>', `${id.name} has no blanket publish (${p})`);
      if (p.startsWith('_INBOX.')) t.match(p, /^_INBOX\.[a-z][a-z0-9_-]*\.>$/, `${id.name} publishes only into whole named inboxes (${p})`);
    }
    t.notOk('allow_responses' in id.permissions, `${id.name}: no allow_responses (it lets a reply go to any subject the asker names)`);
  }
});

t.test('acl — only the supervisor may use the JetStream admin API', async (t) => {
  for (const id of compileAcl(MANIFESTS)) {
    const admin = id.permissions.publish.allow.includes('$JS.API.>');
    t.equal(admin, id.name === 'supervisor', `${id.name} JetStream admin: ${admin}`);
  }
});

t.test('acl — a request for an op nobody serves is a config error', async (t) => {
  t.throws(() => validateManifests([alpha, beta({ requests: ['alpha.nope'] })]), { code: ErrorCode.CONFIG_INVALID });
  t.throws(() => validateManifests([alpha, beta({ subscribes: ['alpha.unknown'] })]), { code: ErrorCode.CONFIG_INVALID });
  t.throws(() => validateManifests([alpha, beta({ subscribes: ['ghost.*'] })]), { code: ErrorCode.CONFIG_INVALID });
  t.throws(() => validateManifests([alpha, { ...alpha }]), { code: ErrorCode.CONFIG_INVALID }, 'duplicate identity');
  t.throws(() => validateManifests([{ ...alpha, name: 'Bad.Name' }]), { code: ErrorCode.CONFIG_INVALID });
  t.throws(() => validateManifests([{ ...alpha, entry: undefined } as unknown as ActorManifest]), { code: ErrorCode.CONFIG_INVALID });
  t.doesNotThrow(() => validateManifests([alpha, beta({ requests: ['alpha.op', 'alpha.ping'], subscribes: ['alpha.happened', 'alpha.*'] })]));
});

t.test('acl — permissions follow the manifest exactly', async (t) => {
  const [a, b] = compileAcl([alpha, beta({ requests: ['alpha.op'], subscribes: ['alpha.happened'] })]);
  t.ok(a!.permissions.subscribe.allow.includes('secai.alpha.op'));
  t.ok(a!.permissions.subscribe.allow.includes('secai.cmd.alpha.ping'), 'standard signed ping');
  t.ok(a!.permissions.publish.allow.includes('secai.evt.alpha.happened'));
  t.ok(a!.permissions.publish.allow.includes('secai.state.alpha'));
  t.ok(a!.permissions.publish.allow.includes('_INBOX.beta.>'), 'alpha may answer into the inbox of beta, which asks it');
  t.notOk(b!.permissions.publish.allow.some((x) => x.startsWith('_INBOX.')), 'beta serves nothing beta asks: it publishes into no inbox');
  t.ok(b!.permissions.publish.allow.includes('secai.alpha.op'));
  t.notOk(b!.permissions.publish.allow.includes('secai.alpha.ping'), 'not declared, not allowed');
  t.ok(b!.permissions.subscribe.allow.includes('secai.evt.alpha.happened'));
  t.notOk(b!.permissions.publish.allow.some((x) => x.startsWith('secai.evt.alpha')), 'beta cannot forge alpha events');
});

t.test('acl — a responder may publish into the inboxes of exactly the identities that may ask it something', async (t) => {
  const eff = MANIFESTS.map(effectiveManifest);
  const ids = compileAcl(MANIFESTS);
  for (const m of eff) {
    // The oracle, from the manifests' meaning: who requests one of m's ops or sends one of its commands.
    const askers = eff.filter((c) =>
      c.requests.some((r) => r.split('.')[0] === m.name || (r.startsWith('*.') && m.kind === 'actor')) ||
      (c.sends ?? []).some((r) => r === '*.*' ? Object.keys(m.commands).length > 0 : r.split('.')[0] === m.name));
    const want = askers.map((c) => `_INBOX.${c.name}.>`).sort();
    const got = ids.find((i) => i.name === m.name)!.permissions.publish.allow.filter((x) => x.startsWith('_INBOX.')).sort();
    t.same(got, want, `${m.name} answers into: ${want.join(', ') || 'nothing'}`);
  }
  const callers = allowedCallers(MANIFESTS);
  t.same([...callers.get('secai.vault.status') ?? []].sort(), eff.filter((c) => c.requests.includes('vault.status')).map((c) => c.name).sort());
  t.ok(callers.get('secai.cmd.vault.ping')?.has('cli'), 'the CLI sends every command (*.*)');
  t.notOk(callers.get('secai.audit.status')?.has('registry'), 'registry does not ask audit.status');
});

t.test('acl — `*.<op>` asks a standard op of every actor process and nothing else', async (t) => {
  const { entry: _entry, ...asClient } = beta({ name: 'watcher', kind: 'client', requests: ['*.ping'] });
  const watcher: ActorManifest = asClient;
  const ids = compileAcl([alpha, beta({}), watcher]);
  const pub = ids.find((i) => i.name === 'watcher')!.permissions.publish.allow;
  t.ok(pub.includes('secai.alpha.ping') && pub.includes('secai.beta.ping'), 'every actor\'s ping');
  t.notOk(pub.some((p) => p.startsWith('secai.watcher.')), 'not a client\'s own');
  t.notOk(pub.includes('secai.alpha.op'), 'not the actors\' own ops');
  for (const ref of ['*.op', '*.unlock', '*.*']) {
    t.throws(() => compileAcl([alpha, beta({ requests: [ref] })]), { code: ErrorCode.CONFIG_INVALID }, `${ref} refused`);
  }
  t.ok(compileAcl(MANIFESTS).find((i) => i.name === 'supervisor')!.permissions.publish.allow.includes('secai.vault.ping'), 'the supervisor pings the vault over the bus');
});
