// Worker thread body: analyses the tensors assigned to it from chunks the main thread reads into shared memory.
import { parentPort, workerData } from 'node:worker_threads';
import { TensorAnalyzer, type AnalyzerOptions } from './weight-stats.js';
import type { TensorLayout } from './tensor-layout.js';

export type ToWorker =
  | { type: 'chunk'; slot: number; base: number; segs: [number, number, number][] }
  | { type: 'finish' };
export type FromWorker = { type: 'ack'; slot: number } | { type: 'stats'; stats: ReturnType<TensorAnalyzer['finish']>[] } | { type: 'error'; message: string };

interface Init { sab: SharedArrayBuffer; slotSize: number; tensors: [number, TensorLayout][]; options: AnalyzerOptions }

const init = workerData as Init;
const analyzers = new Map<number, TensorAnalyzer>(init.tensors.map(([i, t]) => [i, new TensorAnalyzer(t, init.options)]));
const port = parentPort!;

port.on('message', (m: ToWorker) => {
  try {
    if (m.type === 'chunk') {
      const view = new Uint8Array(init.sab, m.slot * init.slotSize, init.slotSize);
      for (const [t, start, end] of m.segs) analyzers.get(t)!.feed(view.subarray(start - m.base, end - m.base));
      port.postMessage({ type: 'ack', slot: m.slot } satisfies FromWorker);
    } else {
      port.postMessage({ type: 'stats', stats: [...analyzers.values()].map((a) => a.finish()) } satisfies FromWorker);
    }
  } catch (e) {
    port.postMessage({ type: 'error', message: (e as Error).message } satisfies FromWorker);
  }
});
