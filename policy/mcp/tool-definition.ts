// An MCP tool's definition as the firewall pins it: the fields a model reads, hashed canonically, and the diff an operator approves.
import { createHash } from 'node:crypto';
import { canonicalJson } from '../../common/canonical-json.js';

/** The parts of a `tools/list` entry that reach the model or shape its calls; anything else a server adds is kept but not pinned. */
export interface ToolDefinition {
  name: string;
  title?: string;
  description?: string;
  inputSchema: Record<string, unknown>;
  outputSchema?: Record<string, unknown>;
  annotations?: Record<string, unknown>;
}

/** What is pinned: a changed title, description, schema or annotation is a different tool until re-approved. */
export function pinnedPart(t: ToolDefinition): ToolDefinition {
  return {
    name: t.name,
    ...(t.title !== undefined && { title: t.title }),
    ...(t.description !== undefined && { description: t.description }),
    inputSchema: t.inputSchema,
    ...(t.outputSchema !== undefined && { outputSchema: t.outputSchema }),
    ...(t.annotations !== undefined && { annotations: t.annotations }),
  };
}

/** SHA-256 (hex) of the pinned part's canonical JSON. */
export const toolHash = (t: ToolDefinition): string => createHash('sha256').update(canonicalJson(pinnedPart(t))).digest('hex');

export interface FieldChange { field: string; before: string | null; after: string | null }

const shown = (v: unknown): string => (typeof v === 'string' ? v : canonicalJson(v)).slice(0, 4096);

/** Field by field, what changed between the approved definition and the one the server offers now (the rug pull shown). */
export function toolDiff(before: ToolDefinition, after: ToolDefinition): FieldChange[] {
  const a = pinnedPart(before) as unknown as Record<string, unknown>;
  const b = pinnedPart(after) as unknown as Record<string, unknown>;
  const out: FieldChange[] = [];
  for (const field of ['name', 'title', 'description', 'inputSchema', 'outputSchema', 'annotations']) {
    const [x, y] = [a[field], b[field]];
    if (canonicalJson(x ?? null) !== canonicalJson(y ?? null)) out.push({ field, before: x === undefined ? null : shown(x), after: y === undefined ? null : shown(y) });
  }
  return out;
}
