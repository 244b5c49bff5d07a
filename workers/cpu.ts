// Physical core count: llama.cpp's thread default oversubscribes SMT siblings and ran 100x slower here.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/** Distinct (physical id, core id) pairs of /proc/cpuinfo, capped by the CPUs this process may use. */
export function physicalCores(cpuinfo?: string): number {
  const usable = availableParallelism();
  let text = cpuinfo;
  try {
    text ??= readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return usable;
  }
  const cores = new Set<string>();
  for (const block of text.split(/\n\s*\n/)) {
    const phys = /^physical id\s*:\s*(\d+)/m.exec(block)?.[1];
    const core = /^core id\s*:\s*(\d+)/m.exec(block)?.[1];
    if (phys !== undefined && core !== undefined) cores.add(`${phys}:${core}`);
  }
  return Math.max(1, Math.min(usable, cores.size || usable));
}

/**
 * llama.cpp threads when policy says 0: one per physical core but one, left to the appliance's own processes
 * (gateway, bus, inference actor) that relay every token. When they preempt a llama.cpp thread mid-graph, the
 * others spin at the next barrier: on 2 cores, 1 thread generated 60 tokens/s and 2 threads 51
 * (`npm run bench:inference` with BENCH_THREADS=1 and 2, both in-process).
 */
export function inferenceThreads(cpuinfo?: string): number {
  return Math.max(1, physicalCores(cpuinfo) - 1);
}
