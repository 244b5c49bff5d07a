// Static checks of a chat template's Jinja AST (parsed, never rendered): the server-side template injection patterns.
import { parse, tokenize } from '@huggingface/jinja';

export type Severity = 'critical' | 'high' | 'medium' | 'low';

export interface TemplateFinding {
  severity: Severity;
  rule: string;
  detail: string;
}

/** Globals and functions a chat template may call. */
const SAFE_CALLS = new Set(['range', 'namespace', 'raise_exception', 'strftime_now', 'dict', 'len']);
/** Methods on strings, lists and dicts that templates in the wild use and that cannot reach Python internals. */
const SAFE_METHODS = new Set([
  'strip', 'lstrip', 'rstrip', 'split', 'rsplit', 'startswith', 'endswith', 'upper', 'lower', 'title', 'capitalize', 'replace',
  'items', 'keys', 'values', 'get', 'append', 'count', 'find', 'join', 'splitlines', 'index',
]);
const SAFE_FILTERS = new Set([
  'trim', 'length', 'count', 'tojson', 'upper', 'lower', 'capitalize', 'title', 'join', 'default', 'd', 'first', 'last', 'list', 'string',
  'int', 'float', 'abs', 'replace', 'round', 'indent', 'items', 'safe', 'escape', 'e', 'unique', 'reverse', 'sort', 'selectattr',
  'rejectattr', 'select', 'reject', 'map', 'sum', 'min', 'max', 'dictsort', 'wordcount', 'center', 'truncate', 'batch', 'slice',
]);
/** Jinja globals used in known sandbox escapes. */
const DANGEROUS_NAMES = new Set(['cycler', 'joiner', 'lipsum', 'config', 'self', 'request', 'url_for', 'get_flashed_messages', 'g', 'session']);
const DANGEROUS_ATTRS = new Set(['mro', 'func_globals', 'f_globals', 'gi_frame', 'gi_code', 'cr_frame', 'tb_frame', 'format', 'format_map']);

type Node = { type?: string; [k: string]: unknown };

function walk(node: unknown, visit: (n: Node, parent: Node | null) => void, parent: Node | null = null, depth = 0): void {
  if (depth > 500 || node === null || typeof node !== 'object') return;
  if (Array.isArray(node)) { for (const c of node) walk(c, visit, parent, depth + 1); return; }
  if (node instanceof Map) { for (const [k, v] of node) { walk(k, visit, parent, depth + 1); walk(v, visit, parent, depth + 1); } return; }
  const n = node as Node;
  if (typeof n.type === 'string') visit(n, parent);
  for (const [k, v] of Object.entries(n)) if (k !== 'type' && typeof v === 'object') walk(v, visit, typeof n.type === 'string' ? n : parent, depth + 1);
}

const ident = (n: unknown): string | null => {
  const x = n as Node | null;
  return x && x.type === 'Identifier' && typeof x.value === 'string' ? x.value : null;
};
const strLit = (n: unknown): string | null => {
  const x = n as Node | null;
  return x && x.type === 'StringLiteral' && typeof x.value === 'string' ? x.value : null;
};

export function scanTemplate(source: string, maxBytes = 1 << 20): TemplateFinding[] {
  const out: TemplateFinding[] = [];
  if (source.length > maxBytes) return [{ severity: 'high', rule: 'template_too_large', detail: `${source.length} characters` }];
  let ast: unknown;
  try {
    ast = parse(tokenize(source, { lstrip_blocks: true, trim_blocks: true }));
  } catch (e) {
    return [{ severity: 'high', rule: 'template_unparseable', detail: (e as Error).message.slice(0, 200) }];
  }
  const macros = new Set<string>();
  walk(ast, (n) => { if (n.type === 'Macro') { const name = ident(n.name); if (name) macros.add(name); } });
  walk(ast, (n, parent) => {
    switch (n.type) {
      case 'MemberExpression': {
        const prop = n.computed ? strLit(n.property) : ident(n.property);
        if (prop && prop.startsWith('_')) out.push({ severity: 'critical', rule: 'dunder_access', detail: `attribute ${prop}` });
        else if (prop && DANGEROUS_ATTRS.has(prop)) out.push({ severity: 'high', rule: 'dangerous_attribute', detail: `attribute ${prop}` });
        break;
      }
      case 'Identifier': {
        const v = n.value as string;
        const isProperty = parent?.type === 'MemberExpression' && parent.property === n && !parent.computed;
        if (!isProperty && DANGEROUS_NAMES.has(v)) out.push({ severity: 'critical', rule: 'dangerous_global', detail: v });
        if (!isProperty && v.startsWith('__')) out.push({ severity: 'critical', rule: 'dunder_access', detail: v });
        break;
      }
      case 'StringLiteral': {
        const v = n.value as string;
        if (/__\w+__/.test(v)) out.push({ severity: 'high', rule: 'dunder_string', detail: v.slice(0, 80) });
        break;
      }
      case 'CallExpression': {
        if ((parent?.type === 'FilterExpression' || parent?.type === 'FilterStatement') && parent.filter === n) break;
        const callee = n.callee as Node;
        const name = ident(callee);
        if (name) {
          if (!SAFE_CALLS.has(name) && !macros.has(name)) out.push({ severity: 'high', rule: 'unsafe_call', detail: `call to ${name}()` });
        } else if (callee?.type === 'MemberExpression') {
          const m = callee.computed ? strLit(callee.property) : ident(callee.property);
          if (!m || !SAFE_METHODS.has(m)) out.push({ severity: 'high', rule: 'unsafe_call', detail: `call to method ${m ?? '(computed)'}()` });
        } else out.push({ severity: 'high', rule: 'unsafe_call', detail: `call of a ${callee?.type ?? 'value'}` });
        break;
      }
      case 'FilterExpression':
      case 'FilterStatement': {
        const f = n.filter as Node;
        const name = ident(f) ?? (f?.type === 'CallExpression' ? ident(f.callee) : null);
        if (name === 'attr') out.push({ severity: 'critical', rule: 'attr_filter', detail: 'the attr filter reaches arbitrary attributes' });
        else if (!name || !SAFE_FILTERS.has(name)) out.push({ severity: 'medium', rule: 'unknown_filter', detail: `filter ${name ?? '(computed)'}` });
        break;
      }
    }
  });
  const urls = source.match(/\b(?:https?|ftp|file):\/\/[^\s'"}]+/gi);
  if (urls) out.push({ severity: 'medium', rule: 'url_in_template', detail: urls.slice(0, 3).join(' ') });
  // Keep one finding per rule+detail.
  const seen = new Set<string>();
  return out.filter((f) => { const k = `${f.rule}|${f.detail}`; if (seen.has(k)) return false; seen.add(k); return true; });
}
