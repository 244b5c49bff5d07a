import t from 'tap';
import { decode, encode } from '../../bus/codec.js';
import { ErrorCode } from '../../common/errors.js';

t.test('codec — round-trips plain data and bytes', async (t) => {
  const v = { a: 1, b: 'x', c: [true, null], d: new Uint8Array([1, 2, 3]) };
  const out = decode(encode(v)) as typeof v;
  t.equal(out.a, 1);
  t.same([...out.d], [1, 2, 3]);
});

t.test('codec — rejects oversize payloads before decoding', async (t) => {
  const big = encode({ s: 'x'.repeat(2000) });
  t.throws(() => decode(big, 1000), { code: ErrorCode.PAYLOAD_TOO_LARGE });
});

t.test('codec — malformed msgpack is a BAD_MESSAGE error, not a crash', async (t) => {
  for (const bad of [new Uint8Array([0xc1]), new Uint8Array([0x81, 0xa1, 0x61, 0xc1]), new Uint8Array([0xdb, 0xff, 0xff, 0xff, 0xff]), new Uint8Array(0), new Uint8Array([0x01, 0x02]), encode([1, 2])]) {
    t.throws(() => decode(bad), { code: ErrorCode.BAD_MESSAGE });
  }
});
