// /proc/driver/nvidia/version into the kernel module's version: the first line names it, anything else is a failed probe.

export class DriverVersionError extends Error {}

/**
 * `NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar  5 22:23:56 UTC 2024` (proprietary) or
 * `NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  550.54.15  Release Build  (…)` (open modules).
 */
export function parseDriverVersion(text: string): string {
  if (text.length > 64 * 1024) throw new DriverVersionError('longer than 64 KiB');
  const first = text.split('\n', 1)[0] ?? '';
  const m = /^NVRM version: NVIDIA UNIX .*?Kernel Module(?: for [A-Za-z0-9_]+)?\s+([0-9]{1,4}(?:\.[0-9]{1,4}){1,3})(?:\s|$)/.exec(first);
  if (!m) throw new DriverVersionError(`first line is not an NVRM version line: '${first.slice(0, 120)}'`);
  return m[1]!;
}
