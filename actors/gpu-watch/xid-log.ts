// XID reports of the NVIDIA driver in the kernel log (/dev/kmsg, read without blocking): `NVRM: Xid (PCI:0000:18:00): 79, …`.
import { closeSync, constants, openSync, readSync } from 'node:fs';
import type { Source, XidEvent } from '../../machines/gpu-watch/score.js';

/** The ring buffer is a few MiB at most; more than this is not a kernel log. */
const MAX_BYTES = 16 * 1024 * 1024;
const MAX_EVENTS = 1024;
const XID = /NVRM: Xid \(PCI:([0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2})(?:\.([0-7]))?\): ([0-9]{1,4})\b/i;

/** The XID lines of a log text (kmsg records `6,1234,5678,-;NVRM: …` or plain dmesg lines). Pure. */
export function xidsOf(text: string): XidEvent[] {
  const out: XidEvent[] = [];
  for (const line of text.split('\n')) {
    const m = XID.exec(line);
    if (m && out.length < MAX_EVENTS) out.push({ bus: `${m[1]!.toLowerCase()}.${m[2] ?? '0'}`, code: Number(m[3]), line: line.slice(line.indexOf('NVRM:')).slice(0, 512) });
  }
  return out;
}

/**
 * Reads the whole log once. /dev/kmsg returns one record per read and EAGAIN at the end (EPIPE when records were
 * overwritten meanwhile: read on); a regular file (a recorded log) reads to EOF. A log this process may not read
 * (dmesg_restrict without CAP_SYSLOG) is `absent`: XIDs are checked where readable.
 */
export function readXids(path: string): Source<XidEvent[]> {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'EACCES' || code === 'EPERM' ? { state: 'absent' } : { state: 'failed', error: `${path}: ${(e as Error).message}` };
  }
  const buf = Buffer.alloc(64 * 1024);
  const parts: Buffer[] = [];
  let total = 0;
  try {
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, buf, 0, buf.length, null);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN') break;
        if (code === 'EPIPE') continue;
        return { state: 'failed', error: `${path}: ${(e as Error).message}` };
      }
      if (n === 0) break;
      total += n;
      if (total > MAX_BYTES) return { state: 'failed', error: `${path}: more than ${MAX_BYTES} bytes` };
      // kmsg records end with a newline; a regular file's chunks are joined before splitting.
      parts.push(Buffer.from(buf.subarray(0, n)));
    }
  } finally {
    closeSync(fd);
  }
  return { state: 'ok', value: xidsOf(Buffer.concat(parts).toString('utf8')) };
}
