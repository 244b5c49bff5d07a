// securectl gpu verbs: the GPU watch's verdict and findings (signed commands).
import { commandOp } from '../bus/op-ref.js';
import { gpuWatchManifest, type gpuStatus } from '../actors/gpu-watch/manifest.js';
import type { Static } from '../bus/schema.js';
import { Exit, printJson, type CliSession } from './cli-common.js';

type GpuVerb = (s: CliSession, args: string[], o: { json: boolean }) => Promise<number>;
type GpuStatus = Static<typeof gpuStatus>;

function print(r: GpuStatus, json: boolean): number {
  if (json) printJson(r);
  else {
    process.stdout.write(`gpu: ${r.state}, score ${r.score}, driver ${r.driverVersion ?? 'none'}, ${r.devices.length} device(s), ${r.probes} probes\n`);
    for (const d of r.devices) process.stdout.write(`  ${d.bus} ${d.vendor}:${d.device} (subsystem ${d.subsystem}) driver ${d.driver ?? 'none'}\n`);
    for (const [name, src] of Object.entries(r.sources)) if (src.state === 'failed') process.stdout.write(`  ${name}: FAILED ${src.error ?? ''}\n`);
    for (const f of r.findings) process.stdout.write(`  [${f.weight}] ${f.kind} (${f.class}): ${f.summary}\n`);
  }
  // As scanners do: 0 nothing found (healthy, or no GPU and none required), 1 found something.
  return r.state === 'healthy' || r.state === 'absent' ? Exit.OK : Exit.FOUND;
}

export const gpuVerbs: Record<string, GpuVerb> = {
  'gpu status': async (s, _a, o) => print(await s.bus.callCommand(s.key, commandOp(gpuWatchManifest, 'status'), {}), o.json),
  'gpu probe': async (s, _a, o) => print(await s.bus.callCommand(s.key, commandOp(gpuWatchManifest, 'probe'), {}), o.json),
};

export const GPU_USAGE = `  gpu status                 the GPU watch: absent, healthy, warning or critical, its score and findings (exit 1 on warning/critical)
  gpu probe                  probe the GPU stack now and show the new verdict`;
