// The kernel's view of a process and its descendants, read from /proc (which wakes nobody): the supervisor's
// liveness checks and the diffusion actor's memory limit read it.
import { existsSync, readFileSync } from 'node:fs';

/** What the kernel says of a process (Linux /proc/<pid>/stat): its state letter and utime + stime in clock ticks. */
export interface ProcView {
  /** R running, S sleeping, D disk wait, T stopped (SIGSTOP), t traced, Z zombie, … */
  state: string;
  ticks: number;
  ppid: number;
  /** The command name the kernel keeps (at most 15 characters). */
  comm: string;
}

/** The kernel's view of a process, or undefined when it cannot be read (gone, or no /proc). */
export function procView(pid: number): ProcView | undefined {
  if (!pid) return undefined;
  try {
    const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    return { state: f[0] ?? '', ticks: Number(f[11]) + Number(f[12]), ppid: Number(f[1]), comm: st.slice(st.indexOf('(') + 1, st.lastIndexOf(')')) };
  } catch {
    return undefined;
  }
}

/** The children of a process now (those its main thread started, which is every child a Node process spawns). */
export function childrenOf(pid: number): number[] {
  const f = `/proc/${pid}/task/${pid}/children`;
  try {
    return existsSync(f) ? readFileSync(f, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number) : [];
  } catch {
    return []; // lint-ok: the process exited between the check and the read
  }
}

/** A process and all its descendants now, the root first (a sandboxed worker runs inside bwrap, a child of its pid). */
export function processTree(root: number): number[] {
  const tree = [root];
  for (let i = 0; i < tree.length; i++) tree.push(...childrenOf(tree[i]!));
  return tree;
}

/** Resident memory of a process and all its descendants now, in bytes (processes gone meanwhile count 0). */
export function treeRssBytes(root: number): number {
  let total = 0;
  for (const pid of processTree(root)) {
    try {
      const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) total += Number(m[1]) * 1024;
    } catch { /* lint-ok: the process exited between the listing and the read */ }
  }
  return total;
}
