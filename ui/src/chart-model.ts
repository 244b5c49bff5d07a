// Pure helpers over a machine's graph: readable edge labels, the active state ids, targetless transitions.

export interface GraphNode {
  id: string;
  key: string;
  type: string;
  initial?: string;
  children: GraphNode[];
  edges: { id: string; source: string; target: string; label: string }[];
}

/** `xstate.done.actor.verifyChain` reads better as `done: verifyChain`; `xstate.after.x.path` as `after x`. */
export function shortLabel(label: string): string {
  const done = /^xstate\.(done|error)\.actor\.(.+)$/.exec(label);
  if (done) return `${done[1]}: ${done[2]}`;
  const after = /^xstate\.after\.([^.]+)\./.exec(label);
  if (after) return `after ${after[1]}`;
  return label;
}

/** Ids of the active state nodes for a snapshot value (`{ a: 'b' }` under machine `m`: m, m.a, m.a.b). */
export function activeIds(machineId: string, value: unknown): Set<string> {
  const out = new Set<string>([machineId]);
  const walk = (prefix: string, v: unknown) => {
    if (typeof v === 'string') out.add(`${prefix}.${v}`);
    else if (v && typeof v === 'object') {
      for (const [k, sub] of Object.entries(v as Record<string, unknown>)) {
        out.add(`${prefix}.${k}`);
        walk(`${prefix}.${k}`, sub);
      }
    }
  };
  walk(machineId, value);
  return out;
}

/** Edges that leave and re-enter the same node (targetless transitions) are listed, not drawn. */
export function selfTransitions(n: GraphNode): { state: string; label: string }[] {
  return [
    ...n.edges.filter((e) => e.source === e.target).map((e) => ({ state: n.key, label: shortLabel(e.label) })),
    ...n.children.flatMap(selfTransitions),
  ];
}

