// One GPU probe: the driver version, the PCI functions, nvidia-smi and the kernel log's XIDs, each read into a Source (never a throw).
import { execFile } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { Observation, Source, SmiGpu } from '../../machines/gpu-watch/score.js';
import { parseDriverVersion } from './driver-version.js';
import { pciGpus } from './pci-gpus.js';
import { parseSmiCsv, SMI_FIELDS } from './smi-csv.js';
import { readXids } from './xid-log.js';

export interface ProbeDeps {
  /** `/`, or a folder standing in for it (SECAI_GPU_ROOT: tests on recorded fixtures). */
  root: string;
  /** The nvidia-smi to run, or null when there is none. */
  smi: string | null;
  /** The kernel log to read XIDs from. */
  kernelLog: string;
  smiTimeoutMs: number;
}

/** nvidia-smi prints ~200 bytes a GPU: a MiB of output is not a GPU list. */
export const SMI_MAX_BYTES = 1024 * 1024;

const executable = (p: string) => { try { accessSync(p, constants.X_OK); return true; } catch { return false; } };

/**
 * Where the probes read. With a stand-in root only what is under it counts (its `usr/bin/nvidia-smi`, its `dev/kmsg`):
 * a test never reaches the host's GPU. Without one, nvidia-smi is looked up in /usr/bin and PATH.
 */
export function probeDeps(gpuRoot: string | undefined, pathVar: string | undefined): ProbeDeps {
  if (gpuRoot) {
    const smi = join(gpuRoot, 'usr', 'bin', 'nvidia-smi');
    return { root: gpuRoot, smi: executable(smi) ? smi : null, kernelLog: join(gpuRoot, 'dev', 'kmsg'), smiTimeoutMs: 10_000 };
  }
  const dirs = ['/usr/bin', ...(pathVar ?? '').split(delimiter).filter((d) => d.startsWith('/'))];
  const smi = dirs.map((d) => join(d, 'nvidia-smi')).find(executable) ?? null;
  return { root: '/', smi, kernelLog: '/dev/kmsg', smiTimeoutMs: 10_000 };
}

function driverVersion(root: string): Source<string> {
  const file = join(root, 'proc', 'driver', 'nvidia', 'version');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? { state: 'absent' } : { state: 'failed', error: `${file}: ${(e as Error).message}` };
  }
  try {
    return { state: 'ok', value: parseDriverVersion(text) };
  } catch (e) {
    return { state: 'failed', error: `${file}: ${(e as Error).message}` };
  }
}

function runSmi(deps: ProbeDeps): Promise<Source<SmiGpu[]>> {
  const smi = deps.smi;
  if (!smi) return Promise.resolve({ state: 'absent' });
  return new Promise((resolve) => {
    execFile(smi, [`--query-gpu=${SMI_FIELDS.join(',')}`, '--format=csv,noheader,nounits'], {
      timeout: deps.smiTimeoutMs, killSignal: 'SIGKILL', maxBuffer: SMI_MAX_BYTES, encoding: 'utf8', env: { PATH: '/usr/bin:/bin', LC_ALL: 'C' },
    }, (err, stdout, stderr) => {
      if (err) {
        const e = err as NodeJS.ErrnoException & { killed?: boolean; code?: unknown };
        const why = e.code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER' ? `printed more than ${SMI_MAX_BYTES} bytes`
          : e.killed ? `did not answer within ${deps.smiTimeoutMs} ms`
          : `exited ${String(e.code)}: ${(stderr || stdout).trim().split('\n')[0]?.slice(0, 256) ?? ''}`;
        resolve({ state: 'failed', error: `nvidia-smi ${why}` });
        return;
      }
      try {
        resolve({ state: 'ok', value: parseSmiCsv(stdout) });
      } catch (pe) {
        resolve({ state: 'failed', error: (pe as Error).message.slice(0, 1024) });
      }
    });
  });
}

/** Reads every source. Without an NVIDIA device and driver nvidia-smi and the log are not consulted: nothing to ask them about. */
export async function probe(deps: ProbeDeps, now: () => number = Date.now): Promise<Observation> {
  const driver = driverVersion(deps.root);
  const devices = pciGpus(deps.root);
  const none = driver.state === 'absent' && (devices.state === 'absent' || (devices.state === 'ok' && devices.value.length === 0));
  if (none) return { at: now(), driver, devices, smi: { state: 'absent' }, xids: { state: 'absent' } };
  const smi = await runSmi(deps);
  return { at: now(), driver, devices, smi, xids: readXids(deps.kernelLog) };
}
