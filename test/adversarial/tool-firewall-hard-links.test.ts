// Adversarial: a hard link inside an allowed root is a second name for a file outside it (the operator's key):
// the firewall refuses it for read and write, and the tools' open refuses it again without touching the file.
import t from 'tap';
import { closeSync, linkSync, mkdirSync, mkdtempSync, readFileSync, readSync, realpathSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openFileNoFollow } from '../../common/no-follow.js';
import { decide } from '../../policy/decide/index.js';
import { checkTool, type CheckDeps } from '../../actors/tool-firewall/check.js';
import { RateLimiter } from '../../actors/tool-firewall/token-bucket.js';
import { testPolicy } from '../policy/helpers.js';

const home = realpathSync(mkdtempSync(join(tmpdir(), 'secai-fw-hl-')));
t.teardown(() => rmSync(home, { recursive: true, force: true }));
const ws = join(home, 'workspace');
const key = join(home, 'keys', 'operator.ed25519');
const SECRET = 'operator secret key bytes';
mkdirSync(join(ws, 'docs'), { recursive: true });
mkdirSync(join(home, 'keys'), { recursive: true });
writeFileSync(key, SECRET);
writeFileSync(join(ws, 'docs', 'a.txt'), 'ok');
linkSync(key, join(ws, 'notes.txt'));
writeFileSync(join(ws, 'docs', 'b.txt'), 'b');
linkSync(join(ws, 'docs', 'b.txt'), join(ws, 'docs', 'b-again.txt'));

const P = testPolicy(home);
const deps = (): CheckDeps => ({ decide: (d, i) => decide(P, d, i), policy: () => P, limiter: new RateLimiter(() => 0), mounts: () => ['/'] });

t.test('tool firewall — a hard link to the operator key inside the workspace is refused for read and write, saying why', async (t) => {
  t.equal(statSync(join(ws, 'notes.txt')).nlink, 2, 'the fixture: one inode, two names');
  const read = await checkTool(deps(), { tool: 'fs.read', args: { path: join(ws, 'notes.txt') } });
  t.same([read.decision, read.rule], ['deny', 'paths.hard_link'], read.reason ?? '');
  t.match(read.reason, /2 hard links.*may also live outside the allowed root/);
  t.match(read.paths, [{ arg: 'path', realPath: join(ws, 'notes.txt'), decision: 'deny', rule: 'paths.hard_link', nlink: 2 }], 'the path verdict carries the link count');
  t.match(read.policyDigest, /^[0-9a-f]{64}$/);
  const write = await checkTool(deps(), { tool: 'fs.write', args: { path: join(ws, 'notes.txt'), content: 'overwrite the key' } });
  t.same([write.decision, write.rule], ['deny', 'paths.hard_link'], 'a write is denied, not asked');
  const list = await checkTool(deps(), { tool: 'fs.list', args: { path: ws } });
  t.equal(list.decision, 'allow', 'folders (nlink counts sub-folders) are not hard links');
  t.equal(readFileSync(key, 'utf8'), SECRET);
});

t.test('tool firewall — a hard link between two files of the workspace is refused too (the other name cannot be located)', async (t) => {
  const r = await checkTool(deps(), { tool: 'fs.read', args: { path: join(ws, 'docs', 'b-again.txt') } });
  t.same([r.decision, r.rule], ['deny', 'paths.hard_link']);
});

t.test('tool firewall — ordinary files and new files still pass (the rule is not denying everything)', async (t) => {
  t.same((await checkTool(deps(), { tool: 'fs.read', args: { path: join(ws, 'docs', 'a.txt') } })).decision, 'allow');
  t.same((await checkTool(deps(), { tool: 'fs.write', args: { path: join(ws, 'docs', 'new.txt'), content: 'x' } })).decision, 'ask');
});

t.test('openFileNoFollow — a hard link is refused for writing before anything is truncated; for reading too', async (t) => {
  t.throws(() => openFileNoFollow(join(ws, 'notes.txt'), 'write'), { name: 'NoFollowError', errno: 'EMLINK', message: /2 hard links/ });
  t.equal(readFileSync(key, 'utf8'), SECRET, 'the key is intact: no O_TRUNC before the check');
  t.throws(() => openFileNoFollow(join(ws, 'notes.txt'), 'read'), { name: 'NoFollowError', errno: 'EMLINK' });
});

t.test('openFileNoFollow — a file checked with one name, swapped for a hard link to the key before the tool opens it, is refused', async (t) => {
  const p = join(ws, 'docs', 'draft.txt');
  writeFileSync(p, 'draft');
  t.equal((await checkTool(deps(), { tool: 'fs.write', args: { path: p, content: 'x' } })).decision, 'ask', 'the check saw one name');
  unlinkSync(p);
  linkSync(key, p); // between the check and the open
  t.throws(() => openFileNoFollow(p, 'write'), { name: 'NoFollowError', errno: 'EMLINK' });
  t.equal(readFileSync(key, 'utf8'), SECRET, 'the key is intact');
});

t.test('openFileNoFollow — ordinary reads and writes work; links and folders are refused', async (t) => {
  const p = join(ws, 'docs', 'out.txt');
  writeFileSync(p, 'old content that is longer');
  let fd = openFileNoFollow(p, 'write');
  writeSync(fd, 'new');
  closeSync(fd);
  t.equal(readFileSync(p, 'utf8'), 'new', 'emptied after the checks, then written');
  fd = openFileNoFollow(join(ws, 'docs', 'created.txt'), 'write');
  closeSync(fd);
  t.equal(statSync(join(ws, 'docs', 'created.txt')).mode & 0o777, 0o600, 'a new file is created 0600');
  fd = openFileNoFollow(p, 'read');
  const buf = Buffer.alloc(8);
  t.equal(buf.subarray(0, readSync(fd, buf)).toString(), 'new');
  closeSync(fd);
  symlinkSync(key, join(ws, 'docs', 'sym.txt'));
  t.throws(() => openFileNoFollow(join(ws, 'docs', 'sym.txt'), 'write'), { name: 'NoFollowError', errno: 'ELOOP' });
  t.throws(() => openFileNoFollow(join(ws, 'docs'), 'read'), { name: 'NoFollowError' });
  t.equal(readFileSync(key, 'utf8'), SECRET);
});
