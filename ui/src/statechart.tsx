// Draws one actor's statechart (nested states, labelled transitions) with an ELK layered layout, as SVG.
import type { ElkExtendedEdge, ElkNode } from 'elkjs/lib/elk-api.js';
import { useEffect, useState } from 'preact/hooks';
import { activeIds, shortLabel, type GraphNode } from './chart-model.js';

export type { GraphNode } from './chart-model.js';
export { selfTransitions } from './chart-model.js';

/** elkjs is large (~1.4 MB): loaded on first layout, so sign-in and the other pages start without it. */
let elk: Promise<{ layout(g: ElkNode): Promise<ElkNode> }> | undefined;
const loadElk = () => (elk ??= import('elkjs/lib/elk.bundled.js').then((m) => new m.default()));
const CHAR_W = 7;

function toElk(n: GraphNode, edges: ElkExtendedEdge[]): ElkNode {
  for (const e of n.edges) {
    if (e.source === e.target) continue;
    const text = shortLabel(e.label);
    edges.push({ id: e.id, sources: [e.source], targets: [e.target], labels: [{ text, width: text.length * CHAR_W + 8, height: 16 }] });
  }
  if (!n.children.length) return { id: n.id, width: Math.max(90, n.key.length * 8 + 28), height: 38, labels: [{ text: n.key }] };
  return {
    id: n.id,
    labels: [{ text: n.key }],
    layoutOptions: { 'elk.padding': '[top=30,left=14,bottom=14,right=14]' },
    children: n.children.map((c) => toElk(c, edges)),
  };
}

interface Laid { nodes: { id: string; key: string; x: number; y: number; w: number; h: number; compound: boolean; initial: boolean }[]; edges: { id: string; d: string; label?: { text: string; x: number; y: number } ; source: string; target: string }[]; w: number; h: number }

async function layout(root: GraphNode): Promise<Laid> {
  const edges: ElkExtendedEdge[] = [];
  const top = toElk(root, edges);
  const graph: ElkNode = {
    id: '__root',
    layoutOptions: {
      'elk.algorithm': 'layered', 'elk.direction': 'DOWN', 'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
      'elk.layered.spacing.nodeNodeBetweenLayers': '48', 'elk.spacing.nodeNode': '36', 'elk.edgeLabels.inline': 'false',
      'elk.json.edgeCoords': 'ROOT', 'elk.json.shapeCoords': 'ROOT',
    },
    children: [top],
    edges,
  };
  const out = await (await loadElk()).layout(graph);
  const byId = new Map<string, GraphNode>();
  const index = (n: GraphNode, parent?: GraphNode) => {
    byId.set(n.id, n);
    n.children.forEach((c) => index(c, n));
    if (parent?.initial === n.key) initials.add(n.id);
  };
  const initials = new Set<string>();
  index(root);
  const nodes: Laid['nodes'] = [];
  const collect = (n: ElkNode) => {
    const g = byId.get(n.id);
    if (g) nodes.push({ id: n.id, key: g.key, x: n.x ?? 0, y: n.y ?? 0, w: n.width ?? 0, h: n.height ?? 0, compound: g.children.length > 0, initial: initials.has(n.id) });
    n.children?.forEach(collect);
  };
  collect(out);
  const laidEdges: Laid['edges'] = [];
  const visit = (n: ElkNode) => {
    for (const e of (n.edges ?? []) as ElkExtendedEdge[]) {
      const sec = e.sections?.[0];
      if (!sec) continue;
      const pts = [sec.startPoint, ...(sec.bendPoints ?? []), sec.endPoint];
      const l = e.labels?.[0];
      laidEdges.push({
        id: e.id, source: e.sources[0] ?? '', target: e.targets[0] ?? '',
        d: pts.map((p, i) => `${i ? 'L' : 'M'}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' '),
        ...(l?.text && { label: { text: l.text, x: (l.x ?? 0) + 4, y: (l.y ?? 0) + 12 } }),
      });
    }
    n.children?.forEach(visit);
  };
  visit(out);
  return { nodes, edges: laidEdges, w: (out.width ?? 0) + 8, h: (out.height ?? 0) + 8 };
}

export function Statechart(p: { actor: string; graph: GraphNode; value: unknown; lastEvent?: string | undefined }) {
  const [laid, setLaid] = useState<Laid | null>(null);
  const [error, setError] = useState('');
  useEffect(() => {
    let live = true;
    layout(p.graph).then((l) => live && setLaid(l), (e: unknown) => live && setError(String(e)));
    return () => { live = false; };
  }, [p.graph]);
  if (error) return <p role="alert">Cannot lay out {p.actor}: {error}</p>;
  if (!laid) return <p aria-busy="true">Laying out {p.actor}…</p>;
  const active = activeIds(p.graph.id, p.value);
  const title = `${p.actor} statechart, current state ${typeof p.value === 'string' ? p.value : JSON.stringify(p.value)}`;
  return (
    <svg class="statechart" viewBox={`-4 -4 ${laid.w} ${laid.h}`} width={laid.w} height={laid.h} role="img" aria-label={title} data-actor={p.actor}>
      <defs>
        <marker id={`arrow-${p.actor}`} viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
          <path d="M0,0 L10,5 L0,10 z" class="arrowhead" />
        </marker>
      </defs>
      {laid.nodes.map((n) => (
        <g key={n.id} class={`state${n.compound ? ' compound' : ''}${active.has(n.id) ? ' active' : ''}`} data-state={n.id} data-active={active.has(n.id) ? 'true' : 'false'}>
          <rect x={n.x} y={n.y} width={n.w} height={n.h} rx="8" />
          {n.initial && <circle class="initial" cx={n.x + 8} cy={n.y + 8} r="3.5" />}
          <text x={n.compound ? n.x + 12 : n.x + n.w / 2} y={n.compound ? n.y + 19 : n.y + n.h / 2 + 5} text-anchor={n.compound ? 'start' : 'middle'}>{n.key}</text>
        </g>
      ))}
      {laid.edges.map((e) => (
        <g key={e.id} class={`transition${active.has(e.source) ? ' from-active' : ''}`}>
          <path d={e.d} marker-end={`url(#arrow-${p.actor})`} />
          {e.label && <text x={e.label.x} y={e.label.y}>{e.label.text}</text>}
        </g>
      ))}
    </svg>
  );
}
