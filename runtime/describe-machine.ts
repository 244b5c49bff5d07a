// A machine definition as plain data for the visualizer: nested states and labelled transitions.
import type { toDirectedGraph as ToDirectedGraph } from '@xstate/graph';
import type { AnyStateMachine } from 'xstate';

// A type, not an interface: it must fit the `describe` reply's record schema (an index signature).
export type GraphNode = {
  id: string;
  key: string;
  type: string;
  initial?: string;
  children: GraphNode[];
  edges: { id: string; source: string; target: string; label: string }[];
};

/** Loads @xstate/graph on first use: only the visualizer asks, and actors start faster without it. */
export async function describeMachine(machine: AnyStateMachine): Promise<{ machine: Record<string, unknown>; graph: GraphNode }> {
  const { toDirectedGraph } = await import('@xstate/graph');
  const walk = (n: ReturnType<typeof ToDirectedGraph>): GraphNode => {
    const initial = n.stateNode.config.initial;
    return {
      id: n.id,
      key: n.stateNode.key,
      type: n.stateNode.type,
      ...(typeof initial === 'string' && { initial }),
      children: n.children.map(walk),
      edges: n.edges.map((e) => ({ id: e.id, source: e.source.id, target: e.target.id, label: e.label.text })),
    };
  };
  // JSON round trip drops functions (guards, actions) that the definition may carry.
  return { machine: JSON.parse(JSON.stringify(machine.toJSON())) as Record<string, unknown>, graph: walk(toDirectedGraph(machine)) };
}
