// Thread counts from /proc/cpuinfo: physical cores (SMT siblings counted once), and llama.cpp's default of one fewer.
import t from 'tap';
import { availableParallelism } from 'node:os';
import { inferenceThreads, physicalCores } from '../../workers/cpu.js';

const cpuinfo = (pairs: [number, number][]) => pairs.map(([p, c], i) => `processor\t: ${i}\nphysical id\t: ${p}\ncore id\t\t: ${c}\n`).join('\n');

t.test('SMT siblings count once; the result never exceeds the CPUs this process may use', async (t) => {
  const usable = availableParallelism();
  t.equal(physicalCores(cpuinfo([[0, 0], [0, 0]])), 1, 'two siblings of one core');
  t.equal(physicalCores(cpuinfo([[0, 0], [0, 1]])), Math.min(usable, 2));
  t.equal(physicalCores('no topology here'), usable, 'no topology: the usable CPUs');
});

t.test('llama.cpp gets one thread fewer than physical cores, never fewer than one', async (t) => {
  t.equal(inferenceThreads(cpuinfo([[0, 0]])), 1);
  t.equal(inferenceThreads(cpuinfo([[0, 0], [0, 0]])), 1);
  t.equal(inferenceThreads(cpuinfo([[0, 0], [0, 1]])), Math.max(1, Math.min(availableParallelism(), 2) - 1));
});
