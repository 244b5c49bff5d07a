// Test helper: signals to a whole process tree (a sandboxed worker runs inside bwrap, a child of the pid we spawned).
export { processTree } from '../../actors/supervisor/proc-view.js';

/** SIGSTOP/SIGCONT to a whole tree; a process that exited meanwhile is skipped. */
export function signalTree(pids: readonly number[], signal: 'SIGSTOP' | 'SIGCONT'): void {
  for (const pid of pids) try { process.kill(pid, signal); } catch { /* lint-ok: the process exited meanwhile */ }
}
