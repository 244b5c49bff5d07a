// Capability tokens on a real bus with the real policy and tool-firewall processes: a token runs exactly one call, once,
// under the policy it was minted for; ask tools need an admin operator's signed approval of that plan step.
import t from 'tap';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decode } from '../../bus/codec.js';
import { keyIdOf, signCommand, type OperatorKey } from '../../bus/envelope.js';
import { defineManifest } from '../../bus/manifest.js';
import { ensureOperatorKey, trustOperator } from '../../bus/operator-keys.js';
import { commandSubject } from '../../bus/subjects.js';
import { getSodium } from '../../common/sodium.js';
import { policyManifest } from '../../actors/policy/manifest.js';
import { toolFirewallManifest } from '../../actors/tool-firewall/manifest.js';
import { supervisorManifest } from '../../actors/supervisor/manifest.js';
import { argsHash, intentHashOf, mintCapability } from '../../policy/capability/token.js';
import { startActor } from '../helpers/actor-process.js';
import { startTestBus } from '../helpers/bus.js';
import { ROOT } from '../helpers/appliance.js';

// The callers policy.mint and tool-firewall.call accept are named `agent`.
const agent = defineManifest({
  name: 'agent', kind: 'client', description: 'test', serves: {}, commands: {}, publishes: {},
  requests: ['policy.mint', 'tool-firewall.call'], subscribes: ['tool-firewall.*', 'policy.*'],
});
const operator = defineManifest({
  name: 'capop', kind: 'client', description: 'test', serves: {}, commands: {}, publishes: {},
  requests: ['policy.show'], subscribes: [], sends: ['policy.reload'],
});

interface Mint { decision: string; rule: string; reason?: string; token?: string; nonce?: string; policyDigest: string; approvedBy?: string; paths?: string[] }

t.test('capability tokens — minted by policy, verified and run by the tool firewall, once, in scope', async (t) => {
  const bus = await startTestBus([supervisorManifest, policyManifest, toolFirewallManifest, agent, operator], { streams: true });
  t.teardown(() => bus.stop());
  const config = mkdtempSync(join(tmpdir(), 'secai-config-'));
  t.teardown(() => rmSync(config, { recursive: true, force: true }));
  for (const f of readdirSync(join(ROOT, 'policy'))) if (f.endsWith('.yaml')) copyFileSync(join(ROOT, 'policy', f), join(config, f));
  const home = bus.paths.home;
  const ws = join(home, 'workspace');
  mkdirSync(join(ws, 'notes'), { recursive: true });
  writeFileSync(join(ws, 'a.txt'), 'hello capability');
  writeFileSync(join(ws, 'b.txt'), 'bee');
  writeFileSync(join(ws, 'notes', 'n.md'), 'first line\nthe needle is here\nlast');

  await startActor(bus, 'policy', config, t);
  await startActor(bus, 'tool-firewall', config, t);
  const keyFile = join(home, 'keys', 'capability.ed25519');
  t.equal(readFileSync(keyFile).length, 64, 'the capability key was made at first start');
  const { statSync } = await import('node:fs');
  t.equal(statSync(keyFile).mode & 0o777, 0o600, 'mode 0600');

  const a = await bus.connect('agent');
  const events: { subject: string; data: any }[] = [];
  for (const subj of ['secai.evt.tool-firewall.called', 'secai.evt.policy.*']) a.subscribe(subj, (m) => { events.push({ subject: m.subject, data: decode(m.data) }); });
  await a.nc.flush();
  const op = await bus.connect('capop');
  const admin = await ensureOperatorKey(bus.paths.operatorKey, bus.paths.trustedOperators);

  const intent = intentHashOf('read the notes, then write a summary');
  let step = 0;
  const mint = (tool: string, args: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
    a.request<Mint>('policy', 'mint', { tool, args, intentHash: intent, planId: 'plan-1', step: step++, ...extra });
  const call = (token: string | undefined, tool: string, args: Record<string, unknown>) => a.request<any>('tool-firewall', 'call', { token: token ?? '', tool, args });

  // Allowed read, end to end; the same token twice is a replay.
  const readA = { path: join(ws, 'a.txt') };
  const m1 = await mint('fs.read', readA);
  t.match(m1, { decision: 'allow', rule: 'fs-read', paths: [join(ws, 'a.txt')] });
  const r1 = await call(m1.token, 'fs.read', readA);
  t.match(r1, { tool: 'fs.read', nonce: m1.nonce, planId: 'plan-1', step: 0, rule: 'fs-read', result: { content: 'hello capability', truncated: false } });
  t.match(r1.resultHash, /^[0-9a-f]{64}$/);
  await t.rejects(call(m1.token, 'fs.read', readA), { code: 'SECAI_E_CAPABILITY_REPLAYED' }, 'a token is good for one call');

  // Out of scope: another tool, another path, other arguments.
  const m2 = await mint('fs.read', readA);
  await t.rejects(call(m2.token, 'fs.write', { path: join(ws, 'a.txt'), content: 'x' }), { code: 'SECAI_E_CAPABILITY_SCOPE' }, 'a read token does not write');
  const m3 = await mint('fs.read', readA);
  await t.rejects(call(m3.token, 'fs.read', { path: join(ws, 'b.txt') }), { code: 'SECAI_E_CAPABILITY_SCOPE' }, 'nor read another file');
  const m4 = await mint('fs.read', readA);
  await t.rejects(call(m4.token, 'fs.read', { ...readA, max_bytes: 10 }), { code: 'SECAI_E_CAPABILITY_SCOPE' }, 'nor add an argument');

  // A name re-pointed after minting: the real path the policy saw is not the one the call would touch.
  symlinkSync(join(ws, 'a.txt'), join(ws, 'link'));
  const m5 = await mint('fs.read', { path: join(ws, 'link') });
  t.same(m5.paths, [join(ws, 'a.txt')], 'the token names the real path');
  unlinkSync(join(ws, 'link'));
  symlinkSync(join(ws, 'b.txt'), join(ws, 'link'));
  await t.rejects(call(m5.token, 'fs.read', { path: join(ws, 'link') }), { code: 'SECAI_E_CAPABILITY_SCOPE', message: /b\.txt/ });

  // Tokens the policy actor did not sign.
  const sodium = await getSodium();
  const rogue = sodium.crypto_sign_keypair();
  const forged = await mintCapability(rogue.privateKey, {
    tool: 'fs.read', argsHash: argsHash(readA), paths: [readA.path], issuedAt: Date.now(), expiresAt: Date.now() + 30_000,
    intentHash: intent, policyDigest: m1.policyDigest, planId: 'plan-1', step: 99,
  });
  await t.rejects(call(forged.token, 'fs.read', readA), { code: 'SECAI_E_CAPABILITY_INVALID', message: /not by the policy's capability key/ });
  const [payload] = m2.token!.split('.');
  await t.rejects(call(`${payload}.${forged.token.split('.')[1]}`, 'fs.read', readA), { code: 'SECAI_E_CAPABILITY_INVALID', message: /signature/ }, 'real claims, rogue signature');
  await t.rejects(call('not-a-token', 'fs.read', readA), { code: 'SECAI_E_CAPABILITY_INVALID' });

  // Paths the policy never allows get no token at all.
  t.match(await mint('fs.read', { path: join(home, 'keys', 'operator.ed25519') }), { decision: 'deny', rule: 'no-keys' });
  t.notOk((await mint('fs.read', { path: '/etc/hostname' })).token, 'outside the workspace: no token');
  t.match(await mint('fs.read', { path: '/etc/hostname' }), { decision: 'deny', rule: 'default-deny' });
  t.match(await mint('fs.write', { path: join(home, 'keys', 'x'), content: 'x' }), { decision: 'deny', rule: 'no-keys' });
  t.match(await mint('shell.exec', { cmd: 'id' }), { decision: 'deny', rule: 'default-deny' });

  // fs.list and fs.search.
  const list = await mint('fs.list', { path: ws });
  const listed = await call(list.token, 'fs.list', { path: ws });
  t.match(listed.result.entries, [{ name: 'a.txt', type: 'file' }, { name: 'b.txt', type: 'file' }, { name: 'link', type: 'link' }, { name: 'notes', type: 'dir' }]);
  const sArgs = { path: ws, query: 'needle' };
  const search = await mint('fs.search', sArgs);
  const found = await call(search.token, 'fs.search', sArgs);
  t.same(found.result.matches, [{ path: join(ws, 'notes', 'n.md'), line: 2, text: 'the needle is here' }], 'links are not followed, the match is found');

  // fs.write asks: no token without an approval, none with a forged one, one with an admin operator's approval of this step.
  const out = join(ws, 'summary.md');
  const wArgs = { path: out, content: 'summary: hello' };
  const asked = await mint('fs.write', wArgs);
  t.match(asked, { decision: 'ask', rule: 'fs-write' });
  t.notOk(asked.token);
  const approve = (key: OperatorKey, args: Record<string, unknown>, subject = commandSubject('agent', 'approve')) => signCommand(key, subject, args);
  const stranger: OperatorKey = { publicKey: rogue.publicKey, secretKey: rogue.privateKey, keyId: keyIdOf(rogue.publicKey) };
  const auditorKp = sodium.crypto_sign_keypair();
  const auditor: OperatorKey = { publicKey: auditorKp.publicKey, secretKey: auditorKp.privateKey, keyId: keyIdOf(auditorKp.publicKey) };
  trustOperator(bus.paths.trustedOperators, { keyId: auditor.keyId, publicKey: auditor.publicKey, roles: ['auditor'], name: 'auditor' });
  const refusals: [string, () => Promise<Mint>, RegExp][] = [
    ['signed by a key nobody trusts', async () => mint('fs.write', wArgs, { approval: await approve(stranger, { planId: 'plan-1', step, intentHash: intent }) }), /KEY_UNKNOWN/],
    ['signed by an auditor, not an admin', async () => mint('fs.write', wArgs, { approval: await approve(auditor, { planId: 'plan-1', step, intentHash: intent }) }), /UNAUTHORIZED/],
    ['for another step', async () => mint('fs.write', wArgs, { approval: await approve(admin, { planId: 'plan-1', step: step + 5, intentHash: intent }) }), /step/],
    ['for another intent', async () => mint('fs.write', wArgs, { approval: await approve(admin, { planId: 'plan-1', step, intentHash: intentHashOf('something else') }) }), /intentHash/],
    ['for other arguments', async () => mint('fs.write', wArgs, { approval: await approve(admin, { planId: 'plan-1', step, intentHash: intent, argsHash: argsHash({ path: out, content: 'other' }) }) }), /other arguments/],
    ['signed for another subject', async () => mint('fs.write', wArgs, { approval: await approve(admin, { planId: 'plan-1', step, intentHash: intent }, commandSubject('policy', 'reload')) }), /ENVELOPE_INVALID/],
  ];
  for (const [what, attempt, reason] of refusals) {
    const r = await attempt();
    t.match(r, { decision: 'deny', rule: 'capability.approval', reason }, what);
    t.notOk(r.token, `${what}: no token`);
  }
  const approval = await approve(admin, { planId: 'plan-1', step, intentHash: intent, tool: 'fs.write', argsHash: argsHash(wArgs) });
  const approved = await mint('fs.write', wArgs, { approval });
  t.match(approved, { decision: 'allow', rule: 'fs-write', approvedBy: admin.keyId, paths: [out] });
  const wrote = await call(approved.token, 'fs.write', wArgs);
  t.match(wrote.result, { bytes: 14, created: true });
  t.equal(readFileSync(out, 'utf8'), 'summary: hello', 'the file is written');
  step--;
  t.match(await mint('fs.write', wArgs, { approval }), { decision: 'deny', rule: 'capability.approval', reason: /already used/ }, 'one approval, one token');
  step++;
  // An ask tool's check at call time wants the approval in the token: an allow-only token cannot be relabelled.
  writeFileSync(join(ws, 'hard-target'), 'x');
  const { linkSync } = await import('node:fs');
  linkSync(join(ws, 'hard-target'), join(ws, 'hard-link'));
  t.match(await mint('fs.read', { path: join(ws, 'hard-link') }), { decision: 'allow' }, 'the policy sees no link on the path');
  const hl = await mint('fs.read', { path: join(ws, 'hard-link') });
  await t.rejects(call(hl.token, 'fs.read', { path: join(ws, 'hard-link') }), { code: 'SECAI_E_POLICY_DENIED', message: /hard_link/ }, 'the firewall refuses a hard link');

  // A reload that changes the digest makes older tokens stale; a 1 s lifetime makes the next one expire.
  const stale = await mint('fs.read', readA);
  const text = readFileSync(join(config, 'policy.yaml'), 'utf8');
  writeFileSync(join(config, 'policy.yaml'), text.replace('capability_ttl_seconds: 60', 'capability_ttl_seconds: 1'));
  const reloaded = await op.command<{ digest: string; previous: string }>(admin, 'policy', 'reload', {}, 30_000);
  t.not(reloaded.digest, reloaded.previous);
  await t.rejects(call(stale.token, 'fs.read', readA), { code: 'SECAI_E_CAPABILITY_STALE_POLICY' });
  const short = await mint('fs.read', readA);
  t.equal(short.policyDigest, reloaded.digest);
  await new Promise((r) => setTimeout(r, 1100));
  await t.rejects(call(short.token, 'fs.read', readA), { code: 'SECAI_E_CAPABILITY_EXPIRED' });

  // Evidence: every call (allowed and refused) and every refusal to mint is evented, with no file content.
  for (let i = 0; i < 50 && events.filter((e) => e.subject.endsWith('.called')).length < 14; i++) await new Promise((r) => setTimeout(r, 100));
  const called = events.filter((e) => e.subject === 'secai.evt.tool-firewall.called').map((e) => e.data);
  t.ok(called.some((c) => c.decision === 'allow' && c.tool === 'fs.read' && c.nonce === m1.nonce && /^[0-9a-f]{64}$/.test(c.resultHash)), 'the allowed read with its result hash');
  t.ok(called.some((c) => c.decision === 'deny' && c.code === 'SECAI_E_CAPABILITY_REPLAYED' && c.nonce === m1.nonce), 'the replay, with the nonce');
  t.ok(called.some((c) => c.decision === 'allow' && c.tool === 'fs.write' && c.approvedBy === admin.keyId && c.args.content !== undefined), 'the approved write');
  t.ok(called.some((c) => c.code === 'SECAI_E_CAPABILITY_STALE_POLICY'), 'the stale token');
  t.notOk(JSON.stringify(called).includes('hello capability'), 'no file content in the events');
  const refused = events.filter((e) => e.subject === 'secai.evt.policy.mint_refused').map((e) => e.data);
  t.ok(refused.some((r) => r.decision === 'ask' && r.tool === 'fs.write'), 'the ask without approval');
  t.ok(refused.some((r) => r.rule === 'capability.approval'), 'the forged approvals');
  t.ok(events.some((e) => e.subject === 'secai.evt.policy.minted' && e.data.approvedBy === admin.keyId), 'the approved mint');
});
