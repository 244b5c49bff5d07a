// The kernel's view of a process (read from /proc, which wakes nobody), and the SIGCHLD that says when to read it.

export { childrenOf, procView, processTree, type ProcView } from '../../common/proc-tree.js';
import type { ProcView } from '../../common/proc-tree.js';

/** Stopped by a signal (SIGSTOP, SIGTSTP) or by a tracer: it answers nothing until continued. */
export const isStopped = (v: ProcView | undefined): boolean => v?.state === 'T' || v?.state === 't';

const watchers = new Set<() => void>();
const onSigchld = () => { for (const w of watchers) w(); };

/**
 * Calls `fn` whenever a child of this process stops, continues or exits: the kernel sends the parent SIGCHLD for each
 * (Node delivers it beside its own child handling). The supervisor learns of a SIGSTOP at once this way, without
 * reading /proc on every beat. Returns the unsubscribe.
 */
export function onChildStateChange(fn: () => void): () => void {
  if (watchers.size === 0) process.on('SIGCHLD', onSigchld);
  watchers.add(fn);
  return () => {
    watchers.delete(fn);
    if (watchers.size === 0) process.off('SIGCHLD', onSigchld);
  };
}
