import t from 'tap';
import { initialTransition, transition } from 'xstate';
import { auditMachine, type ChainVerdict } from '../../machines/audit/audit.machine.js';

const ok: ChainVerdict = { ok: true, records: 3, head: 'h', at: 1 };
const broken: ChainVerdict = { ok: false, records: 3, brokenAt: 2, line: 2, reason: 'record 2 was modified', at: 1 };
const done = (output: ChainVerdict) => ({ type: 'xstate.done.actor.verifyChain', output }) as never;

t.test('audit machine — starts by verifying, follows when the chain is intact', async (t) => {
  const [s0, a0] = initialTransition(auditMachine, { store: null, records: 0 });
  t.equal(s0.value, 'verifying');
  t.ok(a0.some((a) => (a as { type: string }).type === 'xstate.spawnChild'), 'invokes verifyChain');
  const [s1, a1] = transition(auditMachine, s0, done(ok));
  t.equal(s1.value, 'following');
  t.same(s1.context.lastVerdict, ok);
  t.ok(a1.some((a) => (a as { type: string }).type === 'reportVerified'));
});

t.test('audit machine — a broken chain is reported and remembered', async (t) => {
  const [s0] = initialTransition(auditMachine, { store: null, records: 0 });
  const [s1, a1] = transition(auditMachine, s0, done(broken));
  t.equal(s1.value, 'broken');
  t.ok(a1.some((a) => (a as { type: string }).type === 'reportBroken'));
  const [s2] = transition(auditMachine, s1, { type: 'audit.verify' });
  t.equal(s2.value, 'verifying', 'an operator can verify again');
});

t.test('audit machine — a verifier that throws counts as broken (fail closed)', async (t) => {
  const [s0] = initialTransition(auditMachine, { store: null, records: 0 });
  const [s1] = transition(auditMachine, s0, { type: 'xstate.error.actor.verifyChain', error: new Error('disk gone') } as never);
  t.equal(s1.value, 'broken');
  t.match(s1.context.lastVerdict, { ok: false, reason: /disk gone/ });
});

t.test('audit machine — appended records are counted in any state', async (t) => {
  const [s0] = initialTransition(auditMachine, { store: null, records: 0 });
  const [s1] = transition(auditMachine, s0, { type: 'audit.appended', records: 42 });
  t.equal(s1.context.records, 42);
  t.equal(s1.value, 'verifying');
});

t.test('audit machine — a chain file changed under the writer is verified at once, from any state', async (t) => {
  const [s0] = initialTransition(auditMachine, { store: null, records: 0 });
  const [following] = transition(auditMachine, s0, done(ok));
  const tampered = { type: 'audit.tampered', what: 'chain.jsonl was deleted while the audit actor held it' } as const;
  const [s1, a1] = transition(auditMachine, following, tampered);
  t.equal(s1.value, 'verifying', 'from following');
  t.ok(a1.some((a) => (a as { type: string }).type === 'xstate.spawnChild'), 'a verification starts');
  const [s2, a2] = transition(auditMachine, s1, tampered);
  t.equal(s2.value, 'verifying', 'from verifying');
  t.ok(a2.some((a) => (a as { type: string }).type === 'xstate.spawnChild'), 'the running verification is restarted: it may have read the chain before the change');
  const [brokenState] = transition(auditMachine, s2, done(broken));
  const [s3] = transition(auditMachine, brokenState, tampered);
  t.equal(s3.value, 'verifying', 'from broken');
});
