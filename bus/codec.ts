// The wire format: msgpackr with plain maps (no record extension) and a size limit checked first.
import { Packr } from 'msgpackr';
import { ErrorCode, SecaiError } from '../common/errors.js';

const packr = new Packr({ useRecords: false, moreTypes: false, int64AsType: 'number', mapsAsObjects: true });

export const DEFAULT_MAX_PAYLOAD = 256 * 1024;

export function encode(value: unknown): Uint8Array {
  return packr.pack(value);
}

/** Decodes one message; anything malformed or over `maxBytes` is a SecaiError, never a crash. */
export function decode(bytes: Uint8Array, maxBytes = DEFAULT_MAX_PAYLOAD): unknown {
  if (bytes.byteLength > maxBytes) {
    throw new SecaiError(ErrorCode.PAYLOAD_TOO_LARGE, `payload of ${bytes.byteLength} bytes exceeds ${maxBytes}`);
  }
  if (bytes.byteLength === 0) throw new SecaiError(ErrorCode.BAD_MESSAGE, 'empty payload');
  let value: unknown;
  try {
    value = packr.unpack(bytes);
  } catch (err) {
    throw new SecaiError(ErrorCode.BAD_MESSAGE, `malformed msgpack: ${(err as Error).message}`, { cause: err });
  }
  if (!isPlainObject(value)) throw new SecaiError(ErrorCode.BAD_MESSAGE, 'a bus message must be a map');
  assertPlainData(value, 0);
  return value;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** Only JSON-like data and byte strings cross the bus: no extension types, no reserved 0xc1, bounded depth. */
function assertPlainData(v: unknown, depth: number): void {
  if (depth > 32) throw new SecaiError(ErrorCode.BAD_MESSAGE, 'message nests deeper than 32 levels');
  if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' || v instanceof Uint8Array) return;
  if (Array.isArray(v)) {
    for (const x of v) assertPlainData(x, depth + 1);
    return;
  }
  if (isPlainObject(v)) {
    for (const k in v) assertPlainData(v[k], depth + 1);
    return;
  }
  throw new SecaiError(ErrorCode.BAD_MESSAGE, `message holds an unsupported ${typeof v === 'object' ? 'extension type' : typeof v}`);
}
