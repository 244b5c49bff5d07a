// PNG encode/decode for image generation: round trips, palette/RGBA/greyscale files written here with their own
// filters, and every malformed or hostile file (CRC, truncation, decompression bombs, 16-bit, interlace) refused.
import t, { type Test } from 'tap';
import { crc32 as zlibCrc32, deflateSync } from 'node:zlib';
import { ErrorCode, type SecaiError } from '../../common/errors.js';
import { crc32, decodePng, encodePng, rgbToTensor, tensorToRgb, type PngLimits } from '../../workers/diffusion/png.js';

const LIMITS: PngLimits = { maxWidth: 1024, maxHeight: 1024, maxBytes: 4 * 1024 * 1024 };
const SIG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** A chunk with its CRC from node:zlib (independent of the module's own table). */
function chunk(type: string, data: Uint8Array = new Uint8Array(0)): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const out = Buffer.alloc(4 + body.length + 4);
  out.writeUInt32BE(data.length, 0);
  body.copy(out, 4);
  out.writeUInt32BE(zlibCrc32(body), 4 + body.length);
  return out;
}
function ihdr(width: number, height: number, depth: number, colorType: number, interlace = 0): Buffer {
  const b = Buffer.alloc(13);
  b.writeUInt32BE(width, 0);
  b.writeUInt32BE(height, 4);
  b[8] = depth;
  b[9] = colorType;
  b[12] = interlace;
  return chunk('IHDR', b);
}
/** Filters raw scanlines (PNG §9.2) with the given type per row, written out here from the spec. */
function filterRows(rows: Uint8Array[], filters: number[], bpp: number): Buffer {
  const out: number[] = [];
  rows.forEach((row, y) => {
    const f = filters[y % filters.length]!;
    out.push(f);
    for (let i = 0; i < row.length; i++) {
      const a = i >= bpp ? row[i - bpp]! : 0;
      const b = y > 0 ? rows[y - 1]![i]! : 0;
      const c = i >= bpp && y > 0 ? rows[y - 1]![i - bpp]! : 0;
      const p = a + b - c;
      const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
      const pred = [0, a, b, Math.floor((a + b) / 2), pa <= pb && pa <= pc ? a : pb <= pc ? b : c][f]!;
      out.push((row[i]! - pred + 256) & 0xff);
    }
  });
  return Buffer.from(out);
}
const png = (...chunks: Buffer[]) => Buffer.concat([SIG, ...chunks, chunk('IEND')]);

const refused = (t: Test, buf: Uint8Array, what: string, message: RegExp, code: string = ErrorCode.IMAGE_INVALID, limits = LIMITS) => {
  try {
    decodePng(buf, limits);
    t.fail(`${what}: accepted`);
  } catch (err) {
    t.equal((err as SecaiError).code, code, `${what}: ${code}`);
    t.match((err as Error).message, message, `${what}: says why`);
  }
};

const testImage = (w: number, h: number) => Uint8Array.from({ length: w * h * 3 }, (_, i) => (i * 37 + ((i / 3) | 0) * 11) & 0xff);

t.test('png — encode then decode gives the same pixels, and the same bytes every time', async (t) => {
  for (const [w, h] of [[1, 1], [37, 23], [64, 64]] as const) {
    const rgb = testImage(w, h);
    const file = encodePng(rgb, w, h);
    t.same(file.subarray(0, 8), SIG, `${w}×${h}: PNG signature`);
    t.equal(file.toString('latin1', 12, 16), 'IHDR', 'IHDR first');
    t.same([file.readUInt32BE(16), file.readUInt32BE(20), file[24], file[25], file[28]], [w, h, 8, 2, 0], '8-bit RGB, not interlaced');
    const out = decodePng(file, LIMITS);
    t.same([out.width, out.height], [w, h]);
    t.same(out.rgb, rgb, `${w}×${h}: pixels round-trip`);
    t.same(encodePng(rgb, w, h), file, 'deterministic bytes');
  }
  t.equal(crc32(Buffer.from('IEND')), 0xae426082, "CRC-32 of 'IEND' is the constant every PNG ends with");
  t.equal(crc32(Buffer.from('123456789')), 0xcbf43926, 'CRC-32 check value');
});

t.test('png — palette, RGBA, greyscale and low bit depths decode to RGB (alpha dropped)', async (t) => {
  const palette = Uint8Array.of(255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30);
  const idx = [Uint8Array.of(0, 1, 2, 3), Uint8Array.of(3, 2, 1, 0), Uint8Array.of(1, 1, 2, 2)];
  const pal = decodePng(png(ihdr(4, 3, 8, 3), chunk('PLTE', palette), chunk('IDAT', deflateSync(filterRows(idx, [0, 1, 2], 1)))), LIMITS);
  const expect = idx.flatMap((row) => Array.from(row).flatMap((i) => Array.from(palette.subarray(i * 3, i * 3 + 3))));
  t.same(Array.from(pal.rgb), expect, '8-bit palette, filters None/Sub/Up');

  // 2-bit palette: four indices per byte, high bits first; a row of 5 pixels takes 2 bytes.
  const packed = [Uint8Array.of(0b00011011, 0b00000000), Uint8Array.of(0b11100100, 0b11000000)];
  const pal2 = decodePng(png(ihdr(5, 2, 2, 3), chunk('PLTE', palette), chunk('IDAT', deflateSync(filterRows(packed, [0, 4], 1)))), LIMITS);
  const idx2 = [0, 1, 2, 3, 0, 3, 2, 1, 0, 3];
  t.same(Array.from(pal2.rgb), idx2.flatMap((i) => Array.from(palette.subarray(i * 3, i * 3 + 3))), '2-bit palette, Paeth row');

  const rgba = [Uint8Array.of(10, 20, 30, 255, 40, 50, 60, 0, 70, 80, 90, 128), Uint8Array.of(1, 2, 3, 4, 250, 251, 252, 253, 7, 8, 9, 10)];
  const r6 = decodePng(png(ihdr(3, 2, 8, 6), chunk('tEXt', Buffer.from('Comment\0hi')), chunk('IDAT', deflateSync(filterRows(rgba, [3, 4], 4)))), LIMITS);
  t.same(Array.from(r6.rgb), [10, 20, 30, 40, 50, 60, 70, 80, 90, 1, 2, 3, 250, 251, 252, 7, 8, 9], 'RGBA (Average, Paeth): alpha dropped, ancillary tEXt ignored');

  const ga = [Uint8Array.of(0, 255, 128, 9, 255, 0)];
  t.same(Array.from(decodePng(png(ihdr(3, 1, 8, 4), chunk('IDAT', deflateSync(filterRows(ga, [1], 2)))), LIMITS).rgb), [0, 0, 0, 128, 128, 128, 255, 255, 255], 'grey+alpha');
  const g1 = [Uint8Array.of(0b10100000)];
  t.same(Array.from(decodePng(png(ihdr(3, 1, 1, 0), chunk('IDAT', deflateSync(filterRows(g1, [0], 1)))), LIMITS).rgb), [255, 255, 255, 0, 0, 0, 255, 255, 255], '1-bit grey scales to 0/255');
  const split = deflateSync(filterRows([Uint8Array.of(5, 6, 7)], [0], 1));
  const two = png(ihdr(3, 1, 8, 0), chunk('IDAT', split.subarray(0, 4)), chunk('IDAT', split.subarray(4)));
  t.same(Array.from(decodePng(two, LIMITS).rgb), [5, 5, 5, 6, 6, 6, 7, 7, 7], 'image data split over consecutive IDAT chunks');
});

t.test('png — corrupt, truncated and malformed files are refused with the reason', async (t) => {
  const good = encodePng(testImage(8, 8), 8, 8);
  const flipped = Buffer.from(good);
  flipped[45]! ^= 0x01; // inside IDAT's data
  refused(t, flipped, 'one flipped bit', /IDAT chunk CRC mismatch/);
  const badCrc = Buffer.from(good);
  badCrc[29]! ^= 0xff; // IHDR's CRC
  refused(t, badCrc, 'IHDR CRC', /IHDR chunk CRC mismatch/);
  for (const cut of [4, 8, 20, 33, 50, good.length - 12, good.length - 1]) refused(t, good.subarray(0, cut), `truncated at ${cut}`, /signature|truncated|no IHDR|no IDAT|no IEND/);
  refused(t, Buffer.from('GIF89a....'), 'not a PNG', /wrong signature/);
  refused(t, Buffer.concat([good, Buffer.from([0])]), 'bytes after IEND', /data after IEND/);
  refused(t, Buffer.concat([good, chunk('tEXt', Buffer.from('a\0b'))]), 'a chunk after IEND', /data after IEND/);
  const idat = deflateSync(filterRows([testImage(2, 2).subarray(0, 6), testImage(2, 2).subarray(6)], [0], 3));
  refused(t, png(chunk('tEXt', Buffer.from('a\0b')), ihdr(2, 2, 8, 2), chunk('IDAT', idat)), 'IHDR not first', /first chunk is tEXt/);
  refused(t, png(ihdr(2, 2, 8, 2)), 'no IDAT', /no IDAT/);
  refused(t, png(ihdr(2, 2, 8, 2), chunk('ABCD'), chunk('IDAT', idat)), 'unknown critical chunk', /unknown critical chunk ABCD/);
  refused(t, png(ihdr(2, 2, 8, 2), chunk('IDAT', idat.subarray(0, 3)), chunk('tEXt', Buffer.from('a\0b')), chunk('IDAT', idat.subarray(3))), 'IDAT not consecutive', /not consecutive/);
  refused(t, png(ihdr(2, 2, 8, 2), chunk('IDAT', Buffer.from('not zlib'))), 'IDAT not zlib', /does not inflate/);
  refused(t, png(ihdr(2, 2, 8, 2), chunk('IDAT', deflateSync(Buffer.alloc(5)))), 'too little image data', /inflates to 5 bytes, not 14/);
  refused(t, png(ihdr(2, 2, 8, 2), chunk('IDAT', deflateSync(Buffer.concat([filterRows([Uint8Array.of(1, 2, 3, 4, 5, 6), Uint8Array.of(1, 2, 3, 4, 5, 6)], [5], 3)])))), 'filter type 5', /filter type 5/);
  refused(t, png(ihdr(2, 1, 8, 1), chunk('IDAT', idat)), 'colour type 1', /colour type 1 does not exist/);
  refused(t, png(ihdr(2, 1, 3, 0), chunk('IDAT', idat)), 'bit depth 3', /bit depth 3 is not valid/);
  refused(t, png(ihdr(2, 1, 4, 2), chunk('IDAT', idat)), '4-bit RGB', /bit depth 4 is not valid for RGB/);
  refused(t, png(ihdr(2, 1, 8, 3), chunk('IDAT', idat)), 'palette without PLTE', /without PLTE/);
  const palIdat = chunk('IDAT', deflateSync(filterRows([Uint8Array.of(0, 2)], [0], 1)));
  refused(t, png(ihdr(2, 1, 8, 3), chunk('PLTE', Uint8Array.of(1, 2, 3, 4, 5, 6)), palIdat), 'palette index beyond PLTE', /palette index 2 beyond the 2 entries/);
  refused(t, png(ihdr(2, 1, 8, 3), chunk('PLTE', Uint8Array.of(1, 2, 3, 4)), palIdat), 'PLTE not a multiple of 3', /PLTE of 4 bytes/);
  refused(t, png(ihdr(0, 1, 8, 2), chunk('IDAT', idat)), 'zero width', /impossible size/);
  const wrongIhdr = Buffer.from(chunk('IHDR', Buffer.alloc(12)));
  refused(t, png(wrongIhdr, chunk('IDAT', idat)), 'IHDR of 12 bytes', /IHDR has 12 bytes/);
});

t.test('png — 16-bit and interlaced images are refused, clearly', async (t) => {
  const idat = chunk('IDAT', deflateSync(Buffer.alloc(13)));
  refused(t, png(ihdr(2, 1, 16, 2), idat), '16-bit RGB', /16-bit RGB is not supported/);
  refused(t, png(ihdr(2, 1, 16, 0), idat), '16-bit grey', /16-bit greyscale/);
  refused(t, png(ihdr(2, 1, 8, 2, 1), idat), 'Adam7', /interlaced \(Adam7\) images are not supported/);
  refused(t, png(ihdr(2, 1, 8, 2, 2), idat), 'interlace method 2', /interlace method 2/);
});

t.test('png — sizes are bounded before inflating: oversized dimensions, bombs and big files', async (t) => {
  // A gigapixel claim with a tiny IDAT that is not even zlib: refused on the header alone.
  refused(t, png(ihdr(100_000, 100_000, 8, 6), chunk('IDAT', Buffer.from('x'))), 'huge IHDR dims', /100000×100000, larger than the 1024×1024/, ErrorCode.PAYLOAD_TOO_LARGE);
  refused(t, png(ihdr(1025, 1, 8, 2), chunk('IDAT', Buffer.from('x'))), 'one pixel too wide', /larger than/, ErrorCode.PAYLOAD_TOO_LARGE);
  refused(t, png(ihdr(1, 0xffffffff, 8, 2), chunk('IDAT', Buffer.from('x'))), 'height 2^32-1', /impossible size/);
  // A small image whose IDAT inflates to 64 MiB of zeros: stopped at the 8×8 image's 200 bytes.
  const bomb = deflateSync(Buffer.alloc(64 * 1024 * 1024));
  t.ok(bomb.length < 100_000, `the bomb is ${bomb.length} bytes compressed`);
  const before = process.memoryUsage().arrayBuffers;
  refused(t, png(ihdr(8, 8, 8, 2), chunk('IDAT', bomb)), 'decompression bomb', /does not inflate to 200 bytes/);
  t.ok(process.memoryUsage().arrayBuffers - before < 32 * 1024 * 1024, 'and never held the inflated 64 MiB');
  const file = encodePng(testImage(16, 16), 16, 16);
  refused(t, file, 'file over maxBytes', /more than the 100 allowed/, ErrorCode.PAYLOAD_TOO_LARGE, { ...LIMITS, maxBytes: 100 });
  t.throws(() => decodePng(file, { ...LIMITS, maxWidth: 0 }), { code: ErrorCode.INTERNAL }, 'limits must be positive integers');
});

t.test('png — tensor ↔ RGB helpers: CHW layout, [-1, 1] scaling, clamping, rounding', async (t) => {
  const w = 2;
  const h = 1;
  const chw = Float32Array.of(-1, 1, 0, 0.5, 2, -3); // R plane, G plane, B plane
  t.same(Array.from(tensorToRgb(chw, w, h)), [0, 128, 255, 255, 191, 0], 'interleaved, clamped, 0 → 127.5 → 128 (half to even)');
  const all = Uint8Array.from({ length: 256 * 3 }, (_, i) => i % 256);
  const tensor = rgbToTensor(all, 256, 1);
  t.equal(tensor[0], -1);
  t.equal(rgbToTensor(Uint8Array.of(255, 255, 255), 1, 1)[0], 1);
  t.same(tensorToRgb(tensor, 256, 1), all, 'every byte value survives rgb → tensor → rgb');
  t.same(Array.from(rgbToTensor(Uint8Array.of(255, 0, 51, 0, 255, 102), 2, 1)), [1, -1, -1, 1, Math.fround(-0.6), Math.fround(-0.2)], 'CHW planes');
  t.throws(() => tensorToRgb(Float32Array.of(0, NaN, 0), 1, 1), { code: ErrorCode.MODEL_INVALID, message: /NaN/ }, 'NaN from the VAE is an error, not black');
  t.throws(() => tensorToRgb(new Float32Array(5), 1, 1), { code: ErrorCode.INTERNAL }, 'wrong length');
  t.throws(() => rgbToTensor(new Uint8Array(5), 1, 1), { code: ErrorCode.INTERNAL }, 'wrong length');
  t.throws(() => encodePng(new Uint8Array(5), 1, 1), { code: ErrorCode.INTERNAL }, 'encode: wrong length');
  t.throws(() => encodePng(new Uint8Array(0), 0, 0), { code: ErrorCode.INTERNAL }, 'encode: zero size');
});
