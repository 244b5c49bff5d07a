// Classifier-free guidance: one UNet call on [unconditional; conditional] and the two predictions combined.

/** diffusers' rule: guidance runs only above 1; at or below 1 the UNet sees the prompt alone (batch 1). */
export const usesGuidance = (scale: number): boolean => scale > 1;

/**
 * `uncond + scale * (cond - uncond)` over a batch-2 UNet output laid out [uncond; cond] (diffusers'
 * `noise_pred_uncond + guidance_scale * (noise_pred_text - noise_pred_uncond)`).
 */
export function combineGuidance(batched: Float32Array, scale: number): Float32Array {
  if (batched.length % 2 !== 0) throw new RangeError(`a guided UNet output has two halves, not ${batched.length} values`);
  const n = batched.length / 2;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = batched[i]!;
    out[i] = u + scale * (batched[n + i]! - u);
  }
  return out;
}
