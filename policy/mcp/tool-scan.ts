// Poisoning findings in an MCP tool's definition: hidden instructions, invisible characters, exfiltration hints, references to other servers' tools.
import type { ToolDefinition } from './tool-definition.js';

export type FindingKind = 'invisible_unicode' | 'hidden_instruction' | 'sensitive_path' | 'exfiltration_hint' | 'cross_reference' | 'oversized';

export interface ToolFinding {
  kind: FindingKind;
  /** high: the tool is not exposed or pinned on first use until an operator accepts the finding. */
  severity: 'high' | 'medium';
  /** Where in the definition: `description`, `inputSchema.properties.path.description`, … */
  where: string;
  excerpt: string;
}

/**
 * Tag characters (U+E0000–E007F) spell ASCII no reader sees; zero-width and bidi controls hide or reorder text.
 * A model reads them all.
 */
const INVISIBLE = /[\u{E0000}-\u{E007F}\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF\u00AD\u180E]/u;

const HIDDEN_INSTRUCTION: readonly RegExp[] = [
  /\bignore\s+(?:all\s+|any\s+)?(?:the\s+)?(?:previous|prior|above|earlier|preceding)\s+(?:instructions?|prompts?|messages?|rules?)/i,
  /\bdisregard\s+(?:all\s+|any\s+)?(?:the\s+)?(?:previous|prior|above|system)\b/i,
  /<\s*\/?\s*(?:important|system|instructions?|secret|hidden)\s*>/i,
  /\[\s*(?:system|important|instructions?)\s*\]/i,
  /\b(?:do\s+not|don'?t|never)\s+(?:tell|inform|mention|reveal|show|notify)\s+(?:this\s+to\s+)?(?:the\s+)?user\b/i,
  /\bwithout\s+(?:telling|informing|notifying|asking)\s+(?:the\s+)?user\b/i,
  /\b(?:before|after|instead\s+of)\s+(?:using|calling|running|invoking)\s+(?:this|any|the|other)\s+tools?\b.{0,80}\b(?:must|always|first|read|send|call)\b/i,
  /\byou\s+(?:must|should)\s+(?:always\s+)?(?:first\s+)?(?:read|send|call|pass|include)\b/i,
];

const SENSITIVE_PATH = /(?:~|\$HOME|\/home\/[^/\s]+|\/root)\/\.(?:ssh|aws|gnupg|config|kube|docker|netrc)|\bid_(?:rsa|ed25519|ecdsa)\b|\/etc\/(?:passwd|shadow)\b|(?:^|[\s/'"`])\.env\b|\bmcp\.json\b|\bcredentials?\.(?:json|ya?ml)\b|\bwallet\.dat\b/i;

const EXFILTRATION: readonly RegExp[] = [
  /\b(?:send|post|upload|forward|transmit|exfiltrat\w*|leak|copy)\b.{0,60}\b(?:to|at|via)\b.{0,40}(?:https?:\/\/|\b\w+@\w+\.\w+|\bwebhook)/i,
  /\b(?:include|put|pass|embed|append)\b.{0,60}\b(?:contents?|key|token|password|secret|conversation|history)\b.{0,60}\b(?:in|into|as)\b.{0,30}\b(?:param(?:eter)?|argument|field|url|query)/i,
  /[A-Za-z0-9+/]{120,}={0,2}/,
];

const MAX_TEXT = 8192;

/** Every human-readable string in a definition, with where it sits (descriptions, titles, defaults, enum values, nested). */
function texts(t: ToolDefinition): { where: string; text: string }[] {
  const out: { where: string; text: string }[] = [];
  const walk = (v: unknown, where: string, depth: number): void => {
    if (depth > 12 || out.length > 2048) return;
    if (typeof v === 'string') out.push({ where, text: v });
    else if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${where}[${i}]`, depth + 1));
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) { out.push({ where: `${where}.<key>`, text: k }); walk(x, `${where}.${k}`, depth + 1); }
  };
  if (t.title !== undefined) out.push({ where: 'title', text: t.title });
  if (t.description !== undefined) out.push({ where: 'description', text: t.description });
  out.push({ where: 'name', text: t.name });
  walk(t.inputSchema, 'inputSchema', 0);
  if (t.outputSchema) walk(t.outputSchema, 'outputSchema', 0);
  if (t.annotations) walk(t.annotations, 'annotations', 0);
  return out;
}

const excerpt = (text: string, at: number): string => text.slice(Math.max(0, at - 40), at + 80).replace(/[^\x20-\x7e]/g, (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`);

/**
 * Findings for one tool. `otherTools` are the names other servers offer: a description that names one of them is
 * steering calls to another server's tool (shadowing by description).
 */
export function scanTool(t: ToolDefinition, otherTools: readonly string[] = []): ToolFinding[] {
  const out: ToolFinding[] = [];
  const add = (kind: FindingKind, severity: ToolFinding['severity'], where: string, text: string, at: number) => {
    if (!out.some((f) => f.kind === kind && f.where === where)) out.push({ kind, severity, where, excerpt: excerpt(text, at) });
  };
  const others = otherTools.filter((n) => n !== t.name && n.length >= 3);
  for (const { where, text } of texts(t)) {
    if (text.length > MAX_TEXT) add('oversized', 'high', where, text, 0);
    const inv = INVISIBLE.exec(text);
    if (inv) add('invisible_unicode', 'high', where, text, inv.index);
    for (const re of HIDDEN_INSTRUCTION) { const m = re.exec(text); if (m) { add('hidden_instruction', 'high', where, text, m.index); break; } }
    const sp = SENSITIVE_PATH.exec(text);
    if (sp) add('sensitive_path', 'high', where, text, sp.index);
    for (const re of EXFILTRATION) { const m = re.exec(text); if (m) { add('exfiltration_hint', 'high', where, text, m.index); break; } }
    if (where.endsWith('<key>') || where === 'name') continue;
    for (const n of others) {
      const m = new RegExp(`(?<![\\w-])${n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![\\w-])`).exec(text);
      if (m) { add('cross_reference', 'high', where, text, m.index); break; }
    }
  }
  return out;
}

export const blocking = (f: readonly ToolFinding[]): boolean => f.some((x) => x.severity === 'high');
