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
  try {
    return packr.unpack(bytes);
  } catch (err) {
    throw new SecaiError(ErrorCode.BAD_MESSAGE, `malformed msgpack: ${(err as Error).message}`, { cause: err });
  }
}
