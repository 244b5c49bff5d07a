// PNG in and out for image generation: a deterministic RGB encoder, a bounded decoder for img2img inputs (an
// untrusted file: every length, CRC and size is checked before anything is inflated), and tensor ↔ pixel helpers.
import { deflateSync, inflateSync } from 'node:zlib';
import { ErrorCode, SecaiError } from '../../common/errors.js';

export interface PngLimits {
  maxWidth: number;
  maxHeight: number;
  /** The most bytes the PNG file itself may have. */
  maxBytes: number;
}

const SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);
/** PNG §5.3: a chunk's length is at most 2^31 - 1. */
const MAX_CHUNK = 0x7fffffff;

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (ISO 3309, as PNG §5.5 specifies) over the given byte ranges in turn. */
export function crc32(...parts: Uint8Array[]): number {
  let c = 0xffffffff;
  for (const p of parts) for (let i = 0; i < p.length; i++) c = CRC_TABLE[(c ^ p[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  out.set(data, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

function checkDims(width: number, height: number, what: string): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 || width > 65535 || height > 65535) {
    throw new SecaiError(ErrorCode.INTERNAL, `${what}: width and height must be integers from 1 to 65535, got ${String(width)}×${String(height)}`);
  }
}

const paeth = (a: number, b: number, c: number) => {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
};

/**
 * 8-bit RGB PNG. Each row takes the filter with the smallest sum of |signed residuals| (libpng's heuristic), and
 * zlib runs at level 9: the same pixels always give the same bytes (for one zlib, i.e. one Node version).
 */
export function encodePng(rgb: Uint8Array, width: number, height: number): Buffer {
  checkDims(width, height, 'encodePng');
  const stride = width * 3;
  if (rgb.length !== stride * height) {
    throw new SecaiError(ErrorCode.INTERNAL, `encodePng: expected ${stride * height} bytes for ${width}×${height} RGB, got ${rgb.length}`);
  }
  const raw = new Uint8Array((stride + 1) * height);
  const candidate = new Uint8Array(stride);
  const zero = new Uint8Array(stride);
  for (let y = 0; y < height; y++) {
    const row = rgb.subarray(y * stride, (y + 1) * stride);
    const up = y > 0 ? rgb.subarray((y - 1) * stride, y * stride) : zero;
    let bestScore = Infinity;
    for (let f = 0; f <= 4; f++) {
      let score = 0;
      for (let i = 0; i < stride; i++) {
        const a = i >= 3 ? row[i - 3]! : 0;
        const b = up[i]!;
        const c = i >= 3 ? up[i - 3]! : 0;
        const pred = f === 0 ? 0 : f === 1 ? a : f === 2 ? b : f === 3 ? (a + b) >> 1 : paeth(a, b, c);
        const v = (row[i]! - pred) & 0xff;
        candidate[i] = v;
        score += v < 128 ? v : 256 - v;
      }
      if (score < bestScore) {
        bestScore = score;
        raw[y * (stride + 1)] = f;
        raw.set(candidate, y * (stride + 1) + 1);
      }
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type: RGB
  // compression 0, filter method 0, interlace 0: already zero
  return Buffer.concat([SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw, { level: 9 })), chunk('IEND', new Uint8Array(0))]);
}

const invalid = (msg: string, cause?: unknown) =>
  new SecaiError(ErrorCode.IMAGE_INVALID, `not a usable PNG: ${msg}`, cause === undefined ? undefined : { cause });

/** Channels per colour type, and the bit depths PNG §11.2.2 allows for it that this decoder reads. */
const COLOR_TYPES: Readonly<Record<number, { channels: number; depths: readonly number[]; name: string }>> = {
  0: { channels: 1, depths: [1, 2, 4, 8], name: 'greyscale' },
  2: { channels: 3, depths: [8], name: 'RGB' },
  3: { channels: 1, depths: [1, 2, 4, 8], name: 'palette' },
  4: { channels: 2, depths: [8], name: 'greyscale+alpha' },
  6: { channels: 4, depths: [8], name: 'RGBA' },
};

interface Header {
  width: number;
  height: number;
  depth: number;
  colorType: number;
  channels: number;
}

function readHeader(data: Uint8Array, limits: PngLimits): Header {
  if (data.length !== 13) throw invalid(`IHDR has ${data.length} bytes, not 13`);
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const width = v.getUint32(0);
  const height = v.getUint32(4);
  const [depth, colorType, compression, filter, interlace] = [data[8]!, data[9]!, data[10]!, data[11]!, data[12]!];
  if (width === 0 || height === 0 || width > MAX_CHUNK || height > MAX_CHUNK) throw invalid(`impossible size ${width}×${height}`);
  // Before a single byte is inflated: a tiny IDAT can claim gigapixels (a decompression bomb).
  if (width > limits.maxWidth || height > limits.maxHeight) {
    throw new SecaiError(ErrorCode.PAYLOAD_TOO_LARGE, `PNG is ${width}×${height}, larger than the ${limits.maxWidth}×${limits.maxHeight} allowed`);
  }
  const type = COLOR_TYPES[colorType];
  if (!type) throw invalid(`colour type ${colorType} does not exist`);
  if (depth === 16) throw invalid(`16-bit ${type.name} is not supported (save it as 8-bit)`);
  if (!type.depths.includes(depth)) throw invalid(`bit depth ${depth} is not valid for ${type.name}`);
  if (compression !== 0) throw invalid(`compression method ${compression} is not 0 (deflate)`);
  if (filter !== 0) throw invalid(`filter method ${filter} is not 0`);
  if (interlace === 1) throw invalid('interlaced (Adam7) images are not supported (save it non-interlaced)');
  if (interlace !== 0) throw invalid(`interlace method ${interlace} does not exist`);
  return { width, height, depth, colorType, channels: type.channels };
}

/** Reverses the per-row filters (PNG §9) into a new buffer; bpp is bytes per complete pixel, at least 1. */
function unfilter(raw: Uint8Array, height: number, stride: number, bpp: number): Uint8Array {
  const out = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)]!;
    const src = y * (stride + 1) + 1;
    const dst = y * stride;
    for (let i = 0; i < stride; i++) {
      const x = raw[src + i]!;
      const a = i >= bpp ? out[dst + i - bpp]! : 0;
      const b = y > 0 ? out[dst - stride + i]! : 0;
      const c = i >= bpp && y > 0 ? out[dst - stride + i - bpp]! : 0;
      let v: number;
      switch (f) {
        case 0: v = x; break;
        case 1: v = x + a; break;
        case 2: v = x + b; break;
        case 3: v = x + ((a + b) >> 1); break;
        case 4: v = x + paeth(a, b, c); break;
        default: throw invalid(`row ${y} has filter type ${f}`);
      }
      out[dst + i] = v & 0xff;
    }
  }
  return out;
}

/** Decodes an 8-bit (greyscale and palette also 1, 2, 4-bit) non-interlaced PNG to RGB; alpha is dropped. */
export function decodePng(buf: Uint8Array, limits: PngLimits): { width: number; height: number; rgb: Uint8Array } {
  for (const [k, v] of Object.entries(limits) as [string, number][]) {
    if (!Number.isInteger(v) || v < 1) throw new SecaiError(ErrorCode.INTERNAL, `decodePng: limits.${k} must be a positive integer`);
  }
  if (!(buf instanceof Uint8Array)) throw invalid('not bytes');
  if (buf.length > limits.maxBytes) throw new SecaiError(ErrorCode.PAYLOAD_TOO_LARGE, `PNG is ${buf.length} bytes, more than the ${limits.maxBytes} allowed`);
  if (buf.length < 8 || SIGNATURE.some((b, i) => buf[i] !== b)) throw invalid('wrong signature');
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let header: Header | undefined;
  let palette: Uint8Array | undefined;
  const idat: Uint8Array[] = [];
  let idatDone = false;
  let ended = false;
  let at = 8;
  while (at < buf.length) {
    if (ended) throw invalid('data after IEND');
    if (at + 12 > buf.length) throw invalid('truncated chunk header');
    const len = view.getUint32(at);
    if (len > MAX_CHUNK || at + 12 + len > buf.length) throw invalid('truncated chunk');
    const typeBytes = buf.subarray(at + 4, at + 8);
    const type = String.fromCharCode(...typeBytes);
    if (!/^[A-Za-z]{4}$/.test(type)) throw invalid('chunk type is not four letters');
    const data = buf.subarray(at + 8, at + 8 + len);
    if (crc32(typeBytes, data) !== view.getUint32(at + 8 + len)) throw invalid(`${type} chunk CRC mismatch`);
    at += 12 + len;
    if (!header && type !== 'IHDR') throw invalid(`first chunk is ${type}, not IHDR`);
    if (idat.length > 0 && type !== 'IDAT') idatDone = true;
    switch (type) {
      case 'IHDR':
        if (header) throw invalid('second IHDR');
        header = readHeader(data, limits);
        break;
      case 'PLTE':
        if (idat.length > 0) throw invalid('PLTE after IDAT');
        if (palette) throw invalid('second PLTE');
        if (len === 0 || len % 3 !== 0 || len > 768) throw invalid(`PLTE of ${len} bytes`);
        if (header!.colorType === 0 || header!.colorType === 4) throw invalid('PLTE in a greyscale image');
        palette = data;
        break;
      case 'IDAT':
        if (idatDone) throw invalid('IDAT chunks are not consecutive');
        idat.push(data);
        break;
      case 'IEND':
        if (len !== 0) throw invalid('IEND has data');
        ended = true;
        break;
      default:
        // Bit 5 of the first byte clear = critical (PNG §5.4): one this decoder does not know cannot be skipped.
        if (!(typeBytes[0]! & 0x20)) throw invalid(`unknown critical chunk ${type}`);
    }
  }
  if (!header) throw invalid('no IHDR');
  if (idat.length === 0) throw invalid('no IDAT');
  if (!ended) throw invalid('no IEND (truncated)');
  if (header.colorType === 3 && !palette) throw invalid('palette image without PLTE');

  const { width, height, depth, channels } = header;
  const stride = Math.ceil((width * channels * depth) / 8);
  const expected = (stride + 1) * height;
  let raw: Buffer;
  try {
    // maxOutputLength stops inflation at the exact size the header implies: more data is an error, not memory.
    raw = inflateSync(Buffer.concat(idat), { maxOutputLength: expected });
  } catch (err) {
    throw invalid(`image data does not inflate to ${expected} bytes: ${(err as Error).message}`, err);
  }
  if (raw.length !== expected) throw invalid(`image data inflates to ${raw.length} bytes, not ${expected}`);
  const pixels = unfilter(raw, height, stride, Math.max(1, (channels * depth) >> 3));

  const rgb = new Uint8Array(width * height * 3);
  const sample = (row: number, x: number): number => {
    if (depth === 8) return pixels[row * stride + x]!;
    const bit = x * depth;
    return (pixels[row * stride + (bit >> 3)]! >> (8 - depth - (bit & 7))) & ((1 << depth) - 1);
  };
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      switch (header.colorType) {
        case 0: {
          const g = Math.round((sample(y, x) * 255) / ((1 << depth) - 1));
          rgb[o] = rgb[o + 1] = rgb[o + 2] = g;
          break;
        }
        case 3: {
          const p = sample(y, x);
          if (p * 3 + 2 >= palette!.length) throw invalid(`palette index ${p} beyond the ${palette!.length / 3} entries`);
          rgb.set(palette!.subarray(p * 3, p * 3 + 3), o);
          break;
        }
        default: {
          const s = y * stride + x * channels;
          if (channels <= 2) rgb[o] = rgb[o + 1] = rgb[o + 2] = pixels[s]!;
          else rgb.set(pixels.subarray(s, s + 3), o);
        }
      }
    }
  }
  return { width, height, rgb };
}

/** The VAE's NCHW output in [-1, 1] → RGB bytes: round(clamp((x + 1) / 2, 0, 1) · 255), halves to even as numpy. */
export function tensorToRgb(chw: Float32Array, width: number, height: number): Uint8Array {
  checkDims(width, height, 'tensorToRgb');
  const plane = width * height;
  if (chw.length !== 3 * plane) throw new SecaiError(ErrorCode.INTERNAL, `tensorToRgb: expected ${3 * plane} values, got ${chw.length}`);
  const out = new Uint8Array(plane * 3);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < plane; i++) {
      const x = chw[c * plane + i]!;
      // NaN is a broken decode (the fp16 SD VAE overflows): an error, not a silently black image.
      if (Number.isNaN(x)) throw new SecaiError(ErrorCode.MODEL_INVALID, 'the VAE decoder produced NaN values');
      const v = Math.min(1, Math.max(0, x / 2 + 0.5)) * 255;
      const r = Math.round(v);
      out[i * 3 + c] = Math.abs(v % 1) === 0.5 && r % 2 === 1 ? r - 1 : r;
    }
  }
  return out;
}

/** RGB bytes → NCHW float in [-1, 1] (x / 255 · 2 − 1), the VAE encoder's input. */
export function rgbToTensor(rgb: Uint8Array, width: number, height: number): Float32Array {
  checkDims(width, height, 'rgbToTensor');
  const plane = width * height;
  if (rgb.length !== 3 * plane) throw new SecaiError(ErrorCode.INTERNAL, `rgbToTensor: expected ${3 * plane} bytes, got ${rgb.length}`);
  const out = new Float32Array(plane * 3);
  for (let i = 0; i < plane; i++) for (let c = 0; c < 3; c++) out[c * plane + i] = (rgb[i * 3 + c]! / 255) * 2 - 1;
  return out;
}
