// nvidia-smi's CSV (`--query-gpu=… --format=csv,noheader,nounits`) into rows, strictly: anything else is a failed probe, never an empty one.
import type { SmiGpu } from '../../machines/gpu-watch/score.js';

/** The fields asked, in this order; the parser expects exactly these columns. */
export const SMI_FIELDS = [
  'index', 'pci.bus_id', 'uuid', 'name', 'driver_version', 'temperature.gpu', 'ecc.errors.uncorrected.volatile.total', 'clocks_throttle_reasons.active',
] as const;

/** More GPUs than a machine holds, or longer lines than the tool prints, mean the output is not nvidia-smi's. */
const MAX_ROWS = 64;
const MAX_LINE = 512;
const NA = /^\[(N\/A|Not Supported|Unknown Error|Insufficient Permissions)\]$/;

export class SmiParseError extends Error {}

const fail = (line: number, why: string): never => { throw new SmiParseError(`nvidia-smi output line ${line}: ${why}`); };

/** `00000000:18:00.0` (nvidia-smi's 8-digit domain) → `0000:18:00.0` (sysfs). */
export function normalizeBus(raw: string): string | null {
  const m = /^(?:[0-9a-f]{4})?([0-9a-f]{4}):([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$/i.exec(raw);
  return m ? `${m[1]}:${m[2]}:${m[3]}.${m[4]}`.toLowerCase() : null;
}

function intOrNa(v: string, line: number, what: string, max: number): number | null {
  if (NA.test(v)) return null;
  if (!/^[0-9]{1,12}$/.test(v) || Number(v) > max) fail(line, `${what} '${v.slice(0, 32)}' is not a number up to ${max}`);
  return Number(v);
}

/** Parses the whole output; throws SmiParseError on the first line that is not a well-formed row. */
export function parseSmiCsv(text: string): SmiGpu[] {
  if (text.includes('\0')) fail(0, 'binary output');
  const lines = text.split('\n').map((l) => l.replace(/\r$/, '')).filter((l, i, all) => l !== '' || i < all.length - 1);
  if (lines.length === 0 || (lines.length === 1 && lines[0] === '')) fail(1, 'no GPU rows');
  if (lines.length > MAX_ROWS) fail(MAX_ROWS + 1, `more than ${MAX_ROWS} rows`);
  const rows = lines.map((l, i): SmiGpu => {
    const n = i + 1;
    if (l.length > MAX_LINE) fail(n, `longer than ${MAX_LINE} characters`);
    const f = l.split(',').map((x) => x.trim());
    if (f.length !== SMI_FIELDS.length) fail(n, `${f.length} fields, expected ${SMI_FIELDS.length} (${SMI_FIELDS.join(',')})`);
    const [index, bus, uuid, name, driver, temp, ecc, throttle] = f as [string, string, string, string, string, string, string, string];
    if (!/^[0-9]{1,2}$/.test(index)) fail(n, `index '${index.slice(0, 32)}'`);
    const normBus = normalizeBus(bus) ?? fail(n, `PCI bus id '${bus.slice(0, 32)}'`);
    if (!/^GPU-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(uuid)) fail(n, `uuid '${uuid.slice(0, 64)}'`);
    if (!/^[\x20-\x7e]{1,96}$/.test(name)) fail(n, 'GPU name not printable or too long');
    if (!/^[0-9]{1,4}(\.[0-9]{1,4}){1,3}$/.test(driver)) fail(n, `driver version '${driver.slice(0, 32)}'`);
    let reasons: number | null = null;
    if (!NA.test(throttle)) {
      if (!/^0x[0-9a-f]{1,16}$/i.test(throttle)) fail(n, `throttle reasons '${throttle.slice(0, 32)}'`);
      reasons = parseInt(throttle.slice(2).slice(-8), 16);
    }
    return {
      index: Number(index), bus: normBus, uuid: uuid.toLowerCase().replace(/^gpu-/, 'GPU-'), name, driverVersion: driver,
      temperatureC: intOrNa(temp, n, 'temperature', 200), eccUncorrected: intOrNa(ecc, n, 'uncorrected ECC count', 1e12), throttleReasons: reasons,
    };
  });
  if (new Set(rows.map((r) => r.bus)).size !== rows.length) fail(0, 'the same PCI bus id twice');
  return rows;
}
