// Static checks of a chat template's Jinja AST (parsed, never rendered): the server-side template injection patterns.
import { parse, tokenize } from '@huggingface/jinja';
import { JinjaFolder, stringish, type Folded } from './jinja-fold.js';

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
const DANGEROUS_ATTRS = new Set([
  'mro', 'func_globals', 'f_globals', 'gi_frame', 'gi_code', 'cr_frame', 'tb_frame', 'format', 'format_map',
  'os', 'popen', 'subprocess', 'eval', 'exec', 'builtins', 'globals', 'subclasses', 'getattr', 'import_module', 'check_output',
]);
/**
 * Names that lead out of the sandbox in known SSTI payloads: a template that computes one of them at run time
 * is hiding it. (A plain `.system` or `['read']` is left alone: only computed names are judged by this list.)
 */
const COMPUTED_DANGER = new Set([
  ...DANGEROUS_ATTRS, ...DANGEROUS_NAMES, 'class', 'init', 'import', 'system', 'sys', 'modules', 'open', 'read', 'environ',
  'setattr', 'compile', 'application', 'namespace', 'attr', 'spawn', 'load_module',
]);
/** A string anywhere in the template that computes to a dunder or to a payload name other than an ordinary word. */
const isHiddenName = (s: string) => /__[A-Za-z_]\w*__/.test(s) || (COMPUTED_DANGER.has(s) && !['system', 'read', 'format', 'open', 'class', 'init', 'attr'].includes(s));
/** Filters whose arguments name an attribute that the engine then reads with getattr. */
const ATTRIBUTE_FILTERS = new Set(['map', 'selectattr', 'rejectattr', 'sort', 'groupby', 'sum', 'unique', 'min', 'max']);
/** Bounds on the parsed template: more nodes or nesting than a chat template needs is refused rather than half-scanned. */
export const TEMPLATE_LIMITS = { maxNodes: 50_000, maxDepth: 500 } as const;

type Node = { type?: string; [k: string]: unknown };

/** Visits every node; returns false (having stopped) when the tree is deeper or larger than TEMPLATE_LIMITS. */
function walk(root: unknown, visit: (n: Node, parent: Node | null) => void): boolean {
  let count = 0;
  const go = (node: unknown, parent: Node | null, depth: number): boolean => {
    if (node === null || typeof node !== 'object') return true;
    if (depth > TEMPLATE_LIMITS.maxDepth || ++count > TEMPLATE_LIMITS.maxNodes) return false;
    if (Array.isArray(node)) return node.every((c) => go(c, parent, depth + 1));
    if (node instanceof Map) return [...node].every(([k, v]) => go(k, parent, depth + 1) && go(v, parent, depth + 1));
    const n = node as Node;
    if (typeof n.type === 'string') visit(n, parent);
    for (const [k, v] of Object.entries(n)) if (k !== 'type' && typeof v === 'object' && !go(v, typeof n.type === 'string' ? n : parent, depth + 1)) return false;
    return true;
  };
  return go(root, null, 0);
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
  const complete = walk(ast, (n) => { if (n.type === 'Macro') { const name = ident(n.name); if (name) macros.add(name); } });
  if (!complete) return [{ severity: 'high', rule: 'template_too_complex', detail: `more than ${TEMPLATE_LIMITS.maxNodes} nodes or ${TEMPLATE_LIMITS.maxDepth} levels` }];
  const folder = new JinjaFolder(ast);
  try {
    analyse(ast, folder, macros, out);
  } catch (e) {
    // A template that breaks the analysis is refused, not passed half-scanned.
    out.push({ severity: 'high', rule: 'template_too_complex', detail: `analysis failed: ${(e as Error).message.slice(0, 160)}` });
  }
  if (folder.exhausted) out.push({ severity: 'high', rule: 'template_too_complex', detail: 'constant folding reached its bounds' });
  const urls = source.match(/\b(?:https?|ftp|file):\/\/[^\s'"}]+/gi);
  if (urls) out.push({ severity: 'medium', rule: 'url_in_template', detail: urls.slice(0, 3).join(' ') });
  // Keep one finding per rule+detail.
  const seen = new Set<string>();
  return out.filter((f) => { const k = `${f.rule}|${f.detail}`; if (seen.has(k)) return false; seen.add(k); return true; });
}

/** The per-node rules, with the folder's values for computed names. */
function analyse(ast: unknown, folder: JinjaFolder, macros: ReadonlySet<string>, out: TemplateFinding[]): void {
  const shown = (f: Folded) => (f.known ? JSON.stringify(typeof f.value === 'string' ? f.value.slice(0, 80) : f.value) : '(built from template strings)');
  /**
   * A name the engine will look up (subscript, attr() or attribute= argument) that the template computes rather than
   * spells: suspect in itself, critical when it folds to a payload name. Data-derived keys (messages[loop.index0 - 1]) pass.
   */
  const judgeName = (prop: unknown, what: string) => {
    const lit = strLit(prop);
    if (lit !== null) {
      if (lit.startsWith('_')) out.push({ severity: 'critical', rule: 'dunder_access', detail: `${what} ${lit}` });
      else if (DANGEROUS_ATTRS.has(lit)) out.push({ severity: 'high', rule: 'dangerous_attribute', detail: `${what} ${lit}` });
      return;
    }
    const p = prop as Node | null;
    if (!p || p.type === 'IntegerLiteral' || p.type === 'SliceExpression') return;
    const f = folder.fold(p);
    if (f.known && typeof f.value === 'string' && (f.value.startsWith('_') || COMPUTED_DANGER.has(f.value))) {
      out.push({ severity: 'critical', rule: 'computed_name', detail: `${what} built at run time: ${shown(f)}` });
    } else if (stringish(f)) {
      out.push({ severity: 'high', rule: 'computed_subscript', detail: `${what} computed from template values: ${shown(f)}` });
    }
  };
  walk(ast, (n, parent) => {
    // Any expression the template can compute alone, wherever it stands, must not produce a hidden name.
    if (['BinaryExpression', 'FilterExpression', 'CallExpression', 'MemberExpression', 'Set', 'Ternary'].includes(n.type ?? '')) {
      const f = n.type === 'Set' ? (n.value ? null : folder.foldBody(n.body)) : folder.fold(n);
      if (f?.known && typeof f.value === 'string' && isHiddenName(f.value) && !(n.type === 'MemberExpression' && !n.computed)) {
        out.push({ severity: 'critical', rule: 'computed_name', detail: `expression builds ${shown(f)}` });
      }
    }
    switch (n.type) {
      case 'MemberExpression': {
        if (n.computed) { judgeName(n.property, 'subscript'); break; }
        const prop = ident(n.property);
        if (prop && prop.startsWith('_')) out.push({ severity: 'critical', rule: 'dunder_access', detail: `attribute ${prop}` });
        else if (prop && DANGEROUS_ATTRS.has(prop)) out.push({ severity: 'high', rule: 'dangerous_attribute', detail: `attribute ${prop}` });
        break;
      }
      case 'Identifier': {
        const v = n.value as string;
        const isProperty = parent?.type === 'MemberExpression' && parent.property === n && !parent.computed;
        if (!isProperty && DANGEROUS_NAMES.has(v)) out.push({ severity: 'critical', rule: 'dangerous_global', detail: v });
        if (!isProperty && v.startsWith('__')) out.push({ severity: 'critical', rule: 'dunder_access', detail: v });
        // namespace is safe only when called: as a value (namespace|attr(..), namespace.__init__) it is a class object.
        if (v === 'namespace' && !(parent?.type === 'CallExpression' && parent.callee === n)) out.push({ severity: 'critical', rule: 'dangerous_global', detail: 'namespace used as a value' });
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
          if (m === 'format') formatFields(folder.fold(callee.object), out);
        } else out.push({ severity: 'high', rule: 'unsafe_call', detail: `call of a ${callee?.type ?? 'value'}` });
        break;
      }
      case 'FilterExpression':
      case 'FilterStatement': {
        const f = n.filter as Node;
        const name = ident(f) ?? (f?.type === 'CallExpression' ? ident(f.callee) : null);
        const args = f?.type === 'CallExpression' ? ((f.args as Node[]) ?? []) : [];
        if (name === 'attr') {
          const arg = args[0];
          const folded = arg ? folder.fold(arg) : null;
          out.push({ severity: 'critical', rule: 'attr_filter', detail: `the attr filter reaches arbitrary attributes: attr(${folded ? shown(folded) : ''})` });
          if (arg) judgeName(arg, 'attr()');
        } else if (!name || !SAFE_FILTERS.has(name)) out.push({ severity: 'medium', rule: 'unknown_filter', detail: `filter ${name ?? '(computed)'}` });
        if (name && ATTRIBUTE_FILTERS.has(name)) {
          for (const [i, a] of args.entries()) {
            const kw = a?.type === 'KeywordArgumentExpression' ? ident(a.key) : null;
            // map('attr', name) is attr() by another spelling; selectattr/rejectattr take the attribute first.
            if (name === 'map' && i === 0 && !kw && folder.fold(a).known && (folder.fold(a) as { value: unknown }).value === 'attr') {
              out.push({ severity: 'critical', rule: 'attr_filter', detail: 'map() applies the attr filter' });
            }
            if (kw === 'attribute') judgeName(a!.value, `${name}(attribute=)`);
            else if (!kw && i === 0 && (name === 'selectattr' || name === 'rejectattr')) judgeName(a, `${name}()`);
          }
        }
        if (name === 'format') formatFields(folder.fold(n.type === 'FilterExpression' ? n.operand : null), out);
        break;
      }
    }
  });
}

/** A format string that reads an attribute or item of its argument ({0.__class__}, {0[x]}) walks objects like a subscript. */
function formatFields(f: Folded, out: TemplateFinding[]): void {
  if (!f.known || typeof f.value !== 'string') {
    if (stringish(f)) out.push({ severity: 'high', rule: 'computed_format', detail: 'format string built at run time' });
    return;
  }
  const field = /\{[^{}]*[.[][^{}]*\}/.exec(f.value.replace(/\{\{|\}\}/g, ''));
  if (field) out.push({ severity: 'critical', rule: 'format_field_access', detail: `format field ${field[0].slice(0, 80)}` });
}
