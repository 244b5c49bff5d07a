// Test helper: a process and all its descendants (a sandboxed worker runs inside bwrap, a child of the pid we spawned).
import { readdirSync, readFileSync } from 'node:fs';

export function processTree(root: number): number[] {
  const parent = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const st = readFileSync(`/proc/${name}/stat`, 'utf8');
      parent.set(Number(name), Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]));
    } catch { /* lint-ok: the process exited between readdir and read */ }
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) for (const [pid, ppid] of parent) if (ppid === tree[i]) tree.push(pid);
  return tree;
}

/** SIGSTOP/SIGCONT to a whole tree; a process that exited meanwhile is skipped. */
export function signalTree(pids: readonly number[], signal: 'SIGSTOP' | 'SIGCONT'): void {
  for (const pid of pids) try { process.kill(pid, signal); } catch { /* lint-ok: the process exited meanwhile */ }
}
