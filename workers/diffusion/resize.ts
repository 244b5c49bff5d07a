// Resizes an init image to the requested size inside the sandbox: the untrusted image never needs decoding elsewhere.

/**
 * Interleaved RGB from (sw, sh) to (dw, dh), stretched (the aspect is not kept): each output pixel averages the
 * source pixels under it (a box filter, so shrinking a photo does not alias), and enlarging repeats the nearest pixel.
 */
export function resizeRgb(src: Uint8Array, sw: number, sh: number, dw: number, dh: number): Uint8Array {
  if (src.length !== sw * sh * 3) throw new RangeError(`resizeRgb: ${src.length} bytes for ${sw}x${sh} RGB`);
  if (sw === dw && sh === dh) return src;
  const span = (i: number, s: number, d: number): [number, number] => {
    const a = Math.min(s - 1, Math.floor((i * s) / d));
    return [a, Math.max(a + 1, Math.min(s, Math.floor(((i + 1) * s) / d)))];
  };
  const xs = Array.from({ length: dw }, (_, x) => span(x, sw, dw));
  const out = new Uint8Array(dw * dh * 3);
  for (let y = 0; y < dh; y++) {
    const [y0, y1] = span(y, sh, dh);
    for (let x = 0; x < dw; x++) {
      const [x0, x1] = xs[x]!;
      let r = 0;
      let g = 0;
      let b = 0;
      for (let yy = y0; yy < y1; yy++) {
        for (let xx = x0, p = (yy * sw + x0) * 3; xx < x1; xx++, p += 3) {
          r += src[p]!;
          g += src[p + 1]!;
          b += src[p + 2]!;
        }
      }
      const n = (y1 - y0) * (x1 - x0);
      const o = (y * dw + x) * 3;
      out[o] = Math.round(r / n);
      out[o + 1] = Math.round(g / n);
      out[o + 2] = Math.round(b / n);
    }
  }
  return out;
}
