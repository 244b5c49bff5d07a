// Adversarial: tool calls that try to escape their roots, smuggle arguments or flood — all denied, with the rule.
import t from 'tap';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decide } from '../../policy/decide/index.js';
import { checkTool, type CheckDeps } from '../../actors/tool-firewall/check.js';
import { RateLimiter } from '../../actors/tool-firewall/token-bucket.js';
import { testPolicy } from '../policy/helpers.js';

const home = realpathSync(mkdtempSync(join(tmpdir(), 'secai-fw-')));
t.teardown(() => rmSync(home, { recursive: true, force: true }));
const ws = join(home, 'workspace');
mkdirSync(join(ws, 'docs'), { recursive: true });
mkdirSync(join(home, 'keys'), { recursive: true });
mkdirSync(join(home, 'elsewhere'), { recursive: true });
writeFileSync(join(ws, 'docs', 'a.txt'), 'ok');
writeFileSync(join(home, 'keys', 'operator.ed25519'), 'secret');
symlinkSync(join(home, 'keys'), join(ws, 'keys-link'));
symlinkSync(join(home, 'keys', 'operator.ed25519'), join(ws, 'innocent.txt'));
symlinkSync('/etc', join(ws, 'etc'));
symlinkSync(join(home, 'nowhere'), join(ws, 'dangling'));
symlinkSync(join(home, 'elsewhere'), join(ws, 'out'));

const P = testPolicy(home);
function deps(over: Partial<CheckDeps> = {}, now = () => 0): CheckDeps {
  return { decide: (d, i) => decide(P, d, i), policy: () => P, limiter: new RateLimiter(now), mounts: () => ['/'], ...over };
}

const matrix: [string, string, Record<string, unknown>, string][] = [
  ['unknown tool', 'shell.exec', { cmd: 'id' }, 'default-deny'],
  ['tool name case trick', 'FS.read', { path: join(ws, 'docs/a.txt') }, 'default-deny'],
  ['unknown argument', 'fs.read', { path: join(ws, 'docs/a.txt'), follow: true }, 'fs-read'],
  ['argument too long', 'fs.read', { path: join(ws, 'x'.repeat(4100)) }, 'fs-read'],
  ['wrong type', 'fs.read', { path: ['a'] }, 'fs-read'],
  ['dot-dot escape', 'fs.read', { path: `${ws}/docs/../../keys/operator.ed25519` }, 'fs-read'],
  ['NUL byte', 'fs.read', { path: `${ws}/docs/a.txt\u0000.png` }, 'fs-read'],
  ['fullwidth dots', 'fs.read', { path: `${ws}/\uFF0E\uFF0E/keys/operator.ed25519` }, 'fs-read'],
  ['division slash', 'fs.read', { path: `${ws}\u2215..\u2215keys` }, 'fs-read'],
  ['zero-width space', 'fs.read', { path: `${ws}/docs/a\u200B.txt` }, 'fs-read'],
  ['right-to-left override', 'fs.read', { path: `${ws}/docs/\u202Etxt.a` }, 'fs-read'],
  ['non-NFC name', 'fs.read', { path: `${ws}/docs/cafe\u0301.txt` }, 'fs-read'],
  ['Kelvin sign (NFKC folds to K)', 'fs.read', { path: `${ws}/docs/\u212A.txt` }, 'fs-read'],
  ['relative path', 'fs.read', { path: 'workspace/docs/a.txt' }, 'fs-read'],
  ['symlinked dir to keys', 'fs.read', { path: join(ws, 'keys-link', 'operator.ed25519') }, 'no-keys'],
  ['symlinked file to a key', 'fs.read', { path: join(ws, 'innocent.txt') }, 'no-keys'],
  ['symlink to /etc', 'fs.read', { path: join(ws, 'etc', 'passwd') }, 'default-deny'],
  ['symlink out of the root', 'fs.read', { path: join(ws, 'out', 'x') }, 'default-deny'],
  ['write through a dangling symlink', 'fs.write', { path: join(ws, 'dangling'), content: 'x' }, 'paths.real'],
  ['keys by case trick', 'fs.read', { path: join(home, 'KEYS', 'operator.ed25519') }, 'no-keys'],
  ['write to a read-only root', 'fs.write', { path: join(home, 'registry', 'm.gguf'), content: 'x' }, 'default-deny'],
  ['root prefix look-alike', 'fs.read', { path: `${ws}-evil/a.txt` }, 'default-deny'],
];

t.test('tool firewall — deny matrix', async (t) => {
  for (const [what, tool, args, rule] of matrix) {
    const r = await checkTool(deps(), { tool, args });
    t.same([r.decision, r.rule], ['deny', rule], `${what}${r.reason ? `: ${r.reason}` : ''}`);
    t.match(r.policyDigest, /^[0-9a-f]{64}$/, `${what}: cites the policy`);
  }
});

t.test('tool firewall — the legitimate calls pass (the matrix is not denying everything)', async (t) => {
  const read = await checkTool(deps(), { tool: 'fs.read', args: { path: join(ws, 'docs', 'a.txt') } });
  t.same([read.decision, read.rule], ['allow', 'fs-read']);
  t.same(read.paths, [{ arg: 'path', realPath: join(ws, 'docs', 'a.txt'), decision: 'allow', rule: 'workspace' }]);
  const write = await checkTool(deps(), { tool: 'fs.write', args: { path: join(ws, 'docs', 'new.txt'), content: 'hello' } });
  t.same([write.decision, write.rule], ['ask', 'fs-write'], 'fs.write asks the operator');
});

t.test('tool firewall — a path on another mount than its root is denied (mount escape)', async (t) => {
  const r = await checkTool(deps({ mounts: () => ['/', join(ws, 'docs')] }), { tool: 'fs.read', args: { path: join(ws, 'docs', 'a.txt') } });
  t.same([r.decision, r.rule], ['deny', 'paths.cross_mount']);
  const same = await checkTool(deps({ mounts: () => ['/', ws] }), { tool: 'fs.read', args: { path: join(ws, 'docs', 'a.txt') } });
  t.equal(same.decision, 'allow', 'a root that is itself the mount point is fine');
});

t.test('tool firewall — token bucket: a burst of capacity, then denied until it refills', async (t) => {
  let now = 0;
  const d = deps({}, () => now);
  const call = () => checkTool(d, { tool: 'web.search', args: { query: 'weather' } }); // capacity 3, 0.2/s
  for (let i = 0; i < 3; i++) t.equal((await call()).decision, 'ask', `call ${i + 1} within the burst`);
  const r = await call();
  t.same([r.decision, r.rule], ['deny', 'rate.web-search']);
  now += 4000;
  t.equal((await call()).decision, 'deny', 'not yet refilled after 4 s (0.8 token)');
  now += 1000;
  t.equal((await call()).decision, 'ask', 'refilled after 5 s');
  t.equal((await checkTool(d, { tool: 'fs.read', args: { path: join(ws, 'docs', 'a.txt') } })).decision, 'allow', 'other tools have their own bucket');
});

t.test('tool firewall — when the policy engine cannot be reached, the call fails (no decision, no allow)', async (t) => {
  await t.rejects(checkTool(deps({ decide: () => Promise.reject(new Error('no responder')) }), { tool: 'fs.read', args: { path: join(ws, 'docs', 'a.txt') } }));
});
