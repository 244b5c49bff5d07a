// Adversarial: the agent being judged declares the risk of its own actions; agent_risk must not believe it.
import t from 'tap';
import { decide } from '../../policy/decide/index.js';
import { testPolicy } from '../policy/helpers.js';

const LEVELS = ['low', 'medium', 'high', 'critical'] as const;

t.test('agent risk — an action the policy does not rate is denied, whatever risk the caller declares', async (t) => {
  const P = testPolicy();
  for (const action of ['net.post', 'fs.delete', 'shell.exec2', 'fs.read.all']) {
    for (const risk of [...LEVELS, undefined]) {
      const r = decide(P, 'agent_risk', risk === undefined ? { action } : { action, risk });
      t.equal(r.decision, 'deny', `${action} declared ${risk ?? '(nothing)'}`);
      t.equal(r.rule, 'default-deny', `${action} declared ${risk ?? '(nothing)'}: no rule`);
    }
  }
});

t.test('agent risk — the caller can raise the policy rating but never lower it', async (t) => {
  const P = testPolicy(undefined, {
    agent_risk: {
      allow_up_to: 'low', ask_up_to: 'high',
      actions: [{ id: 'post-high', action: 'net.post', risk: 'high' }, { id: 'upload-critical', action: 'net.upload', risk: 'critical' }, { id: 'list-low', action: 'fs.list', risk: 'low' }],
    },
  });
  for (const risk of LEVELS) {
    const post = decide(P, 'agent_risk', { action: 'net.post', risk });
    t.equal(post.decision, risk === 'critical' ? 'deny' : 'ask', `net.post (rated high) declared ${risk}`);
    const up = decide(P, 'agent_risk', { action: 'net.upload', risk });
    t.equal(up.decision, 'deny', `net.upload (rated critical) declared ${risk}`);
    t.equal(up.rule, 'agent_risk.above_ask');
  }
  t.equal(decide(P, 'agent_risk', { action: 'fs.list' }).decision, 'allow', 'rated low, nothing declared');
  t.equal(decide(P, 'agent_risk', { action: 'fs.list', risk: 'high' }).decision, 'ask', 'a caller may be more careful than the policy');
  t.match(decide(P, 'agent_risk', { action: 'net.post', risk: 'low' }).reason, /post-high rates net\.post high/, 'the evidence names the rule that rated it');
});

t.test('agent risk — a rule that decides outright still wins over any rating', async (t) => {
  const P = testPolicy();
  t.equal(decide(P, 'agent_risk', { action: 'shell.exec', risk: 'low' }).decision, 'deny');
  t.equal(decide(P, 'agent_risk', { action: 'shell.exec' }).rule, 'no-shell');
});
