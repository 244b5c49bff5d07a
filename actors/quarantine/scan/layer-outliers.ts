// Role-group z-scores: tensors that play the same role in every layer (blk.N.attn_q.weight) should look alike; flag the one that does not.
import type { TensorStats } from './weight-stats.js';

export interface LayerOutlier {
  tensor: string;
  role: string;
  metric: 'log_std' | 'mean';
  value: number;
  median: number;
  z: number;
}

/** blk.12.attn_q.weight → blk.N.attn_q.weight; model.layers.3.mlp.up_proj.weight → model.layers.N.mlp.up_proj.weight. */
export const roleOf = (name: string): string | null => (/\.\d+\./.test(name) ? name.replace(/\.\d+\./, '.N.') : null);

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Robust z (median and MAD) of each member's log σ within its role group; groups need `minGroup` members. */
export function layerOutliers(stats: readonly TensorStats[], zThreshold: number, minGroup = 4, madFloor = 0.05): { outliers: LayerOutlier[]; groups: number; maxAbsZ: number } {
  const groups = new Map<string, TensorStats[]>();
  for (const s of stats) {
    const role = roleOf(s.name);
    if (!role || !s.analysed || s.values === 0 || s.elements < 256) continue;
    let g = groups.get(role);
    if (!g) groups.set(role, (g = []));
    g.push(s);
  }
  const outliers: LayerOutlier[] = [];
  let counted = 0, maxAbsZ = 0;
  for (const [role, members] of groups) {
    if (members.length < minGroup) continue;
    counted++;
    const xs = members.map((m) => Math.log(Math.sqrt(m.variance) + 1e-30));
    const med = median(xs);
    const mad = Math.max(median(xs.map((x) => Math.abs(x - med))), madFloor);
    members.forEach((m, i) => {
      const z = (xs[i]! - med) / (1.4826 * mad);
      if (Math.abs(z) > maxAbsZ) maxAbsZ = Math.abs(z);
      if (Math.abs(z) > zThreshold) outliers.push({ tensor: m.name, role, metric: 'log_std', value: xs[i]!, median: med, z });
    });
  }
  return { outliers, groups: counted, maxAbsZ };
}
