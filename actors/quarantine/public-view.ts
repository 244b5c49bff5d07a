// What of the quarantine machine and its job machines leaves the process on secai.state.quarantine: ids, names, stages, counts; never paths.
import { stageOf, type JobContext, type QuarantineContext } from '../../machines/quarantine/quarantine.machine.js';

/** The public face of the machine and of each job machine (for the Machines page): ids, names, counts, stages; no paths. */
export function publicContext(c: QuarantineContext) {
  const current = c.running[0] ? c.reports[c.running[0]] : undefined;
  // The last few finished jobs: a job machine is gone once it ends, and the page still shows where it ended.
  const finished = Object.values(c.reports).filter((r) => r.state !== null && r.finishedAt !== null)
    .sort((a, b) => a.finishedAt!.localeCompare(b.finishedAt!)).slice(-5)
    .map((r) => ({ id: r.id, name: r.name.slice(0, 255), state: r.state }));
  return { queued: c.queue.length, current: current ? { id: current.id, name: current.name } : null, done: c.done, finished };
}

export function publicJob(child: { id: string; value: unknown; context: unknown }) {
  const c = child.context as JobContext | undefined;
  if (!c?.job) return null;
  return { machine: 'job', name: c.job.artifact.name.slice(0, 255), stage: stageOf(child.value), received: c.received, results: c.results.map((r) => `${r.stage}:${r.verdict}`) };
}
