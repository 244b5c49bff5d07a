// The supervisor's /proc reader: a process's state, parent and name, and a whole process tree (real processes).
import t from 'tap';
import { spawn } from 'node:child_process';
import { childrenOf, isStopped, processTree, procView } from '../../actors/supervisor/proc-view.js';
import { until } from '../helpers/until.js';

t.test('proc view — parent, name and state of a real process; a tree two levels deep; a gone process reads as undefined', async (t) => {
  const me = procView(process.pid);
  t.equal(me?.ppid, process.ppid, 'the parent');
  t.equal(me?.comm, 'node');
  // A shell that starts a grandchild: the tree finds both levels.
  const sh = spawn('sh', ['-c', 'sleep 30 & wait'], { stdio: 'ignore' });
  t.teardown(() => { for (const pid of processTree(sh.pid!).reverse()) try { process.kill(pid, 'SIGKILL'); } catch { /* lint-ok: gone */ } });
  const tree = await until('the shell started its sleep', () => { const tr = processTree(sh.pid!); return tr.length === 2 ? tr : undefined; });
  t.equal(tree[0], sh.pid, 'the root first');
  t.same(childrenOf(sh.pid!), [tree[1]]);
  t.equal(procView(tree[1]!)?.comm, 'sleep');
  t.equal(procView(tree[1]!)?.ppid, sh.pid);
  process.kill(tree[1]!, 'SIGSTOP');
  await until('the sleep is stopped', () => isStopped(procView(tree[1]!)));
  process.kill(tree[1]!, 'SIGKILL');
  await until('the shell is gone', () => { sh.kill('SIGKILL'); return sh.exitCode !== null || sh.signalCode !== null; });
  t.equal(procView(0), undefined);
  t.same(childrenOf(sh.pid!), [], 'a gone process has no children');
});
