// NVIDIA display-class functions on the PCI bus, from sysfs: ids, subsystem and the bound driver.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { PciGpu, Source } from '../../machines/gpu-watch/score.js';

export const NVIDIA_VENDOR = '0x10de';
const MAX_FUNCTIONS = 4096;

const errno = (e: unknown) => (e as NodeJS.ErrnoException).code;

function attr(dir: string, name: string, pattern: RegExp): string {
  const v = readFileSync(join(dir, name), 'utf8').trim().toLowerCase();
  if (!pattern.test(v)) throw new Error(`${join(dir, name)}: '${v.slice(0, 32)}' is not a PCI ${name}`);
  return v;
}

/** `<root>/sys/bus/pci/devices`: a missing folder is `absent` (no sysfs), an unreadable one or a malformed NVIDIA entry `failed`. */
export function pciGpus(root: string): Source<PciGpu[]> {
  const base = join(root, 'sys', 'bus', 'pci', 'devices');
  let names: string[];
  try {
    names = readdirSync(base);
  } catch (e) {
    return errno(e) === 'ENOENT' ? { state: 'absent' } : { state: 'failed', error: `${base}: ${(e as Error).message}` };
  }
  if (names.length > MAX_FUNCTIONS) return { state: 'failed', error: `${base}: more than ${MAX_FUNCTIONS} entries` };
  const out: PciGpu[] = [];
  try {
    for (const bus of names.sort()) {
      if (!/^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/.test(bus)) continue;
      const dir = join(base, bus);
      let vendor: string;
      try { vendor = readFileSync(join(dir, 'vendor'), 'utf8').trim().toLowerCase(); } catch (e) { if (errno(e) === 'ENOENT') continue; throw e; }
      if (vendor !== NVIDIA_VENDOR) continue;
      const cls = attr(dir, 'class', /^0x[0-9a-f]{6}$/);
      // 0x03xxxx: display controllers (0x0300 VGA, 0x0302 3D controller: the H100/H200); NVIDIA's audio and USB functions are not GPUs.
      if (!cls.startsWith('0x03')) continue;
      let driver: string | null = null;
      try { driver = basename(readlinkSync(join(dir, 'driver'))); } catch (e) { if (errno(e) !== 'ENOENT') throw e; }
      out.push({
        bus, vendor, class: cls, driver,
        device: attr(dir, 'device', /^0x[0-9a-f]{4}$/),
        subsystem: `${attr(dir, 'subsystem_vendor', /^0x[0-9a-f]{4}$/)}:${attr(dir, 'subsystem_device', /^0x[0-9a-f]{4}$/)}`,
      });
    }
  } catch (e) {
    return { state: 'failed', error: (e as Error).message.slice(0, 1024) };
  }
  return { state: 'ok', value: out };
}
