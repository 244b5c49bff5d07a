// The few numpy routines diffusers' timestep code uses, with numpy's exact arithmetic (a timestep off by one
// rounding changes the image): linspace, arange's fill, round-half-to-even, interp.

/** np.linspace(start, stop, num, endpoint): y[i] = i*step + start, and the last equals stop when endpoint. */
export function linspace(start: number, stop: number, num: number, endpoint = true): Float64Array {
  const out = new Float64Array(num);
  const div = endpoint ? num - 1 : num;
  const step = (stop - start) / div;
  for (let i = 0; i < num; i++) out[i] = div > 0 ? i * step + start : start;
  if (endpoint && num > 1) out[num - 1] = stop;
  return out;
}

/**
 * The first `count` values of np.arange(start, stop, step) for floats: numpy fills y[i] = start + i*delta with
 * delta = (start + step) - start, which may differ from step in the last bit.
 */
export function arangeValues(start: number, step: number, count: number): Float64Array {
  const delta = start + step - start;
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) out[i] = i === 0 ? start : i === 1 ? start + step : start + i * delta;
  return out;
}

/** np.round: halves go to the even neighbour (62.5 → 62, 937.5 → 938). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 ? 2 * Math.round(x / 2) : r;
}

/** np.interp(x, arange(fp.length), fp): linear between integer knots, clamped to the ends. */
export function interpIndex(x: number, fp: Float64Array): number {
  const last = fp.length - 1;
  if (x <= 0) return fp[0]!;
  if (x >= last) return fp[last]!;
  const j = Math.floor(x);
  const slope = fp[j + 1]! - fp[j]!;
  return slope * (x - j) + fp[j]!;
}
