import t from 'tap';
import { compileAcl, validateManifests } from '../../bus/acl.js';
import { defineManifest, type ActorManifest } from '../../bus/manifest.js';
import { s } from '../../bus/schema.js';
import { MANIFESTS } from '../../actors/catalog.js';
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
      t.notOk(p === '>' || p === 'secai.>' || p.startsWith('_INBOX'), `${id.name} has no blanket publish (${p})`);
    }
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
  t.ok(a!.permissions.allow_responses, 'a serving actor may answer');
  t.ok(b!.permissions.publish.allow.includes('secai.alpha.op'));
  t.notOk(b!.permissions.publish.allow.includes('secai.alpha.ping'), 'not declared, not allowed');
  t.ok(b!.permissions.subscribe.allow.includes('secai.evt.alpha.happened'));
  t.notOk(b!.permissions.publish.allow.some((x) => x.startsWith('secai.evt.alpha')), 'beta cannot forge alpha events');
});

t.test('acl — the reply window covers the slowest declared op (a late reply would be dropped by the server)', async (t) => {
  const window = (ms: ActorManifest[], name: string) => compileAcl(ms).find((i) => i.name === name)?.permissions.allow_responses?.expires;
  t.equal(window([alpha], 'alpha'), '35s', 'default ops: 30 s floor + 5 s');
  const slow = beta({ serves: { hash: { request: s.empty(), reply: s.empty(), description: 'x', timeoutMs: 600_000 } } });
  t.equal(window([slow], 'beta'), '605s');
  const slowCmd = beta({ commands: { wipe: { request: s.empty(), reply: s.empty(), description: 'x', timeoutMs: 120_000, roles: ['admin'] } } });
  t.equal(window([slowCmd], 'beta'), '125s', 'commands count too');
  for (const m of MANIFESTS) {
    const id = compileAcl(MANIFESTS).find((i) => i.name === m.name)!;
    const exp = id.permissions.allow_responses?.expires;
    if (!exp) continue;
    const longest = Math.max(...[...Object.values(m.serves), ...Object.values(m.commands)].map((o) => o.timeoutMs ?? 5000));
    const secs = exp.endsWith('m') ? Number(exp.slice(0, -1)) * 60 : Number(exp.slice(0, -1));
    t.ok(secs * 1000 > longest, `${m.name}: ${exp} outlasts its slowest op (${longest} ms)`);
  }
});
