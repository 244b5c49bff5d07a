// Folds a chat template's constant expressions to the values Python's Jinja would compute, so a name built at run time can be judged.
import { pyPercent, pyRepr, pySlice, pyStr, pyStrFormat, type Const } from './py-values.js';

export type { Const } from './py-values.js';

/**
 * A folded expression: its value when the template alone decides it, otherwise whether it was built
 * from the template's own strings (`stringy`: a name an author could have assembled) or comes from data.
 */
export type Folded = { readonly known: true; readonly value: Const } | { readonly known: false; readonly stringy: boolean };

type Node = { type?: string; [k: string]: unknown };
type Binding = { readonly node: unknown; readonly part: 'whole' | 'element' | 'text' | 'param' };

/** Bounds: any of them reached makes the result "built from strings" (suspect), never "data". */
export const FOLD_LIMITS = { maxString: 4096, maxList: 1024, maxDepth: 200, maxSteps: 200_000 } as const;

const OPAQUE: Folded = { known: false, stringy: false };
const STRINGY: Folded = { known: false, stringy: true };
const known = (value: Const): Folded => ({ known: true, value });
/**
 * Unassigned names whose values the template's author controls: the engine's globals (their str() spells
 * "<class 'dict'>") and the special tokens, which come from the same model files as the template.
 */
const TEMPLATE_CONTROLLED = new Set([
  'range', 'dict', 'namespace', 'lipsum', 'cycler', 'joiner', 'raise_exception', 'strftime_now',
  'loop', 'caller', 'varargs', 'kwargs',
  'bos_token', 'eos_token', 'unk_token', 'pad_token', 'sep_token', 'cls_token', 'mask_token', 'additional_special_tokens',
]);
const LOOP_NUMBERS = new Set(['index', 'index0', 'revindex', 'revindex0', 'length', 'first', 'last', 'depth', 'depth0']);
const CONSTANTS: Record<string, Const> = { true: true, True: true, false: false, False: false, none: null, None: null };

const hasString = (v: Const): boolean =>
  typeof v === 'string' || (Array.isArray(v) && v.some(hasString)) || (v instanceof Map && [...v.values()].some(hasString));
/** True when the value is, or may be, a string the template itself assembled. */
export const stringish = (f: Folded): boolean => (f.known ? hasString(f.value) : f.stringy);
const unknownFrom = (...fs: Folded[]): Folded => (fs.some(stringish) ? STRINGY : OPAQUE);
const boundedString = (s: string): Folded => (s.length > FOLD_LIMITS.maxString ? STRINGY : known(s));
const boundedList = (l: Const[]): Folded => (l.length > FOLD_LIMITS.maxList ? STRINGY : known(l));
const isInt = (v: Const): v is number => typeof v === 'number' && Number.isInteger(v);

function merge(fs: Folded[]): Folded {
  if (fs.length === 0) return OPAQUE;
  const first = fs[0]!;
  if (first.known && fs.every((f) => f.known && pyRepr(f.value) === pyRepr(first.value))) return first;
  return unknownFrom(...fs);
}

/** Whether a value is true in Jinja's (Python's) sense. */
function truthy(v: Const): boolean {
  if (v === null || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (v instanceof Map) return v.size > 0;
  return true;
}

export class JinjaFolder {
  private readonly bindings = new Map<string, Binding[]>();
  private readonly resolving = new Set<string>();
  private steps = 0;
  /** Results that do not depend on an assignment cycle being resolved (none in progress when computed). */
  private readonly memo = new WeakMap<object, Folded>();
  private readonly nameMemo = new Map<string, Folded | null>();
  /** Set once a bound was reached: the caller reports the template as too complex. */
  exhausted = false;

  constructor(ast: unknown) {
    this.collect(ast, 0);
  }

  private bind(name: string, b: Binding): void {
    const list = this.bindings.get(name) ?? [];
    list.push(b);
    this.bindings.set(name, list);
  }

  /** Every name the template assigns (set, for, macro parameters, namespace fields) with what it assigns. */
  private collect(node: unknown, depth: number): void {
    if (depth > 1000 || node === null || typeof node !== 'object') return;
    if (Array.isArray(node)) { for (const c of node) this.collect(c, depth + 1); return; }
    if (node instanceof Map) { for (const [k, v] of node) { this.collect(k, depth + 1); this.collect(v, depth + 1); } return; }
    const n = node as Node;
    if (n.type === 'Set') {
      const targets = targetNames(n.assignee);
      const b: Binding = n.value === null || n.value === undefined ? { node: n.body, part: 'text' } : { node: n.value, part: targets.length > 1 ? 'element' : 'whole' };
      for (const t of targets) this.bind(t, b);
      const v = n.value as Node | null;
      const single = targets.length === 1 ? targets[0]! : null;
      if (single && v?.type === 'CallExpression' && identName(v.callee) === 'namespace') {
        for (const a of (v.args as Node[]) ?? []) {
          const key = a?.type === 'KeywordArgumentExpression' ? identName(a.key) : null;
          if (key) this.bind(`${single}.${key}`, { node: a.value, part: 'whole' });
        }
      }
    } else if (n.type === 'For') {
      for (const t of targetNames(n.loopvar)) this.bind(t, { node: n.iterable, part: 'element' });
    } else if (n.type === 'Macro' || n.type === 'CallStatement') {
      for (const a of ((n.type === 'Macro' ? n.args : n.callerArgs) as Node[] | null) ?? []) {
        const name = identName(a) ?? (a?.type === 'KeywordArgumentExpression' ? identName(a.key) : null);
        if (name) this.bind(name, { node: a?.type === 'KeywordArgumentExpression' ? a.value : null, part: 'param' });
      }
    }
    for (const [k, v] of Object.entries(n)) if (k !== 'type' && typeof v === 'object') this.collect(v, depth + 1);
  }

  /** What a name holds: the merge of everything the template assigns to it; a context variable is data. */
  private resolve(name: string, depth: number): Folded | null {
    if (name in CONSTANTS && !this.bindings.has(name)) return known(CONSTANTS[name]!);
    const bs = this.bindings.get(name);
    if (!bs) return null;
    // A self-referencing assignment ({% set ns.s = ns.s ~ c %}) adds nothing new on the cycle; its other terms decide.
    if (this.resolving.has(name)) return null;
    const top = this.resolving.size === 0;
    if (top && this.nameMemo.has(name)) return this.nameMemo.get(name)!;
    this.resolving.add(name);
    try {
      const parts: Folded[] = [];
      for (const b of bs) {
        if (b.part === 'param') { parts.push(STRINGY); if (b.node) parts.push(this.fold(b.node, depth + 1)); continue; }
        if (b.part === 'text') { parts.push(this.foldBody(b.node, depth + 1)); continue; }
        const f = this.fold(b.node, depth + 1);
        parts.push(b.part === 'whole' ? f : unknownFrom(f));
      }
      const r = merge(parts);
      if (top) this.nameMemo.set(name, r);
      return r;
    } finally {
      this.resolving.delete(name);
    }
  }

  /** The output of a block ({% set x %}…{% endset %}): text and folded expressions concatenated. */
  foldBody(body: unknown, depth = 0): Folded {
    if (!Array.isArray(body)) return STRINGY;
    let out = '';
    for (const s of body) {
      const f = this.fold(s, depth + 1);
      if (!f.known) return STRINGY;
      out += pyStr(f.value);
      if (out.length > FOLD_LIMITS.maxString) return STRINGY;
    }
    return known(out);
  }

  fold(node: unknown, depth = 0): Folded {
    if (node === null || typeof node !== 'object') return OPAQUE;
    const cached = this.memo.get(node);
    if (cached) return cached;
    const top = this.resolving.size === 0;
    const r = this.foldNode(node as Node, depth);
    if (top && !this.exhausted) this.memo.set(node, r);
    return r;
  }

  private foldNode(n: Node, depth: number): Folded {
    if (++this.steps > FOLD_LIMITS.maxSteps || depth > FOLD_LIMITS.maxDepth) { this.exhausted = true; return STRINGY; }
    const d = depth + 1;
    switch (n.type) {
      case 'StringLiteral': return known(String(n.value));
      case 'IntegerLiteral':
      case 'FloatLiteral': return known(Number(n.value));
      case 'ArrayLiteral':
      case 'TupleLiteral': {
        const items = ((n.value as unknown[]) ?? []).map((x) => this.fold(x, d));
        return items.every((f) => f.known) ? boundedList(items.map((f) => (f as { value: Const }).value)) : unknownFrom(...items);
      }
      case 'ObjectLiteral': {
        const m = new Map<string, Const>();
        const parts: Folded[] = [];
        for (const [k, v] of (n.value as Map<unknown, unknown>) ?? []) {
          const fk = this.fold(k, d), fv = this.fold(v, d);
          parts.push(fk, fv);
          if (fk.known && typeof fk.value === 'string' && fv.known) m.set(fk.value, fv.value);
        }
        return parts.every((f) => f.known) && m.size * 2 === parts.length ? known(m) : unknownFrom(...parts);
      }
      case 'Identifier': {
        const v = String(n.value);
        return this.resolve(v, d) ?? (TEMPLATE_CONTROLLED.has(v) ? STRINGY : OPAQUE);
      }
      case 'MemberExpression': return this.foldMember(n, d);
      case 'UnaryExpression': {
        const a = this.fold(n.argument, d);
        const op = (n.operator as { value?: string })?.value;
        if (op === '-' && a.known && typeof a.value === 'number') return known(-a.value);
        if (op === '+' && a.known && typeof a.value === 'number') return a;
        return op === 'not' ? OPAQUE : unknownFrom(a);
      }
      case 'BinaryExpression': return this.foldBinary(n, d);
      case 'FilterExpression': return this.foldFilter(this.fold(n.operand, d), n.filter as Node, d);
      case 'CallExpression': return this.foldCall(n, d);
      case 'Ternary': {
        const c = this.fold(n.condition, d);
        if (c.known) return this.fold(truthy(c.value) ? n.trueExpr : n.falseExpr, d);
        return merge([this.fold(n.trueExpr, d), this.fold(n.falseExpr, d)]);
      }
      case 'SelectExpression': {
        const c = this.fold(n.test, d);
        if (c.known) return truthy(c.value) ? this.fold(n.lhs, d) : known('');
        return merge([this.fold(n.lhs, d), known('')]);
      }
      case 'TestExpression': return OPAQUE;
      case 'KeywordArgumentExpression': return this.fold(n.value, d);
      default: return STRINGY; // An expression form this folder does not model is treated as suspect, not as data.
    }
  }

  private foldMember(n: Node, d: number): Folded {
    const obj = n.object as Node;
    const prop = n.property as Node;
    if (!n.computed) {
      const o = identName(obj), p = identName(prop);
      if (o && p && this.bindings.has(`${o}.${p}`)) return this.resolve(`${o}.${p}`, d) ?? STRINGY;
      // The loop's counters are numbers; the loop object itself (its str()) is template-made like any other.
      if (o === 'loop' && !this.bindings.has('loop')) return LOOP_NUMBERS.has(p ?? '') ? OPAQUE : p === 'previtem' || p === 'nextitem' ? OPAQUE : STRINGY;
      const fo = this.fold(obj, d);
      // An attribute of a template constant that is not a dict key is a method or the like: its str() spells letters.
      if (fo.known) return fo.value instanceof Map && p !== null && fo.value.has(p) ? known(fo.value.get(p)!) : STRINGY;
      return unknownFrom(fo);
    }
    const fo = this.fold(obj, d);
    if (prop?.type === 'SliceExpression') {
      const parts = [prop.start, prop.stop, prop.step].map((x) => (x === undefined || x === null ? known(null) : this.fold(x, d)));
      if (fo.known && (typeof fo.value === 'string' || Array.isArray(fo.value)) && parts.every((p) => p.known && (p.value === null || isInt(p.value)))) {
        const [a, b, c] = parts.map((p) => (p as { value: number | null }).value);
        if (c === 0) return STRINGY;
        const seq = fo.value as string | readonly Const[];
        const idx = pySlice(seq.length, a ?? null, b ?? null, c ?? null);
        return typeof seq === 'string' ? known(idx.map((i) => seq[i]!).join('')) : known(idx.map((i) => seq[i]!));
      }
      return unknownFrom(fo, ...parts);
    }
    const fp = this.fold(prop, d);
    if (fo.known && fp.known) {
      const v = fo.value, k = fp.value;
      if ((typeof v === 'string' || Array.isArray(v)) && isInt(k)) {
        const i = k < 0 ? v.length + k : k;
        if (i >= 0 && i < v.length) return known(v[i]!);
      }
      if (v instanceof Map && typeof k === 'string' && v.has(k)) return known(v.get(k)!);
    }
    return fo.known ? STRINGY : unknownFrom(fo);
  }

  private foldBinary(n: Node, d: number): Folded {
    const op = (n.operator as { value?: string })?.value;
    const l = this.fold(n.left, d);
    if (op === 'and' || op === 'or') {
      // Python returns an operand, not a boolean: ('' or '__cla') ~ 'ss__' builds a name.
      if (l.known) return (op === 'or') === truthy(l.value) ? l : this.fold(n.right, d);
      return merge([l, this.fold(n.right, d)]);
    }
    const r = this.fold(n.right, d);
    if (!l.known || !r.known) return op === '~' ? STRINGY : ['+', '*', '%'].includes(op ?? '') ? unknownFrom(l, r) : OPAQUE;
    const a = l.value, b = r.value;
    switch (op) {
      case '~': return boundedString(pyStr(a) + pyStr(b));
      case '+':
        if (typeof a === 'string' && typeof b === 'string') return boundedString(a + b);
        if (typeof a === 'number' && typeof b === 'number') return known(a + b);
        if (Array.isArray(a) && Array.isArray(b)) return boundedList([...a, ...b]);
        return unknownFrom(l, r);
      case '*': {
        const [s, k] = isInt(b) ? [a, b] : isInt(a) ? [b, a] : [null, 0];
        const times = Math.max(0, k);
        if ((typeof s === 'string' || Array.isArray(s)) && (times > FOLD_LIMITS.maxString || s.length * times > FOLD_LIMITS.maxString)) return STRINGY;
        if (typeof s === 'string') return known(s.repeat(times));
        if (Array.isArray(s)) return boundedList(Array.from({ length: times }, () => s).flat());
        if (typeof a === 'number' && typeof b === 'number') return known(a * b);
        return unknownFrom(l, r);
      }
      case '%':
        if (typeof a === 'string') { const s = pyPercent(a, b); return s === null ? STRINGY : boundedString(s); }
        if (typeof a === 'number' && typeof b === 'number' && b !== 0) return known(((a % b) + b) % b);
        return unknownFrom(l, r);
      case '-': return typeof a === 'number' && typeof b === 'number' ? known(a - b) : OPAQUE;
      case '//': return typeof a === 'number' && typeof b === 'number' && b !== 0 ? known(Math.floor(a / b)) : OPAQUE;
      default: return OPAQUE; // Comparisons, `in`, `/` and `**` give numbers or booleans, never a name.
    }
  }

  /** A filter applied to a folded operand: the string filters are evaluated, the rest keep the operand's taint. */
  foldFilter(operand: Folded, filter: Node, d: number): Folded {
    const name = identName(filter) ?? (filter?.type === 'CallExpression' ? identName(filter.callee) : null);
    const rawArgs = filter?.type === 'CallExpression' ? ((filter.args as Node[]) ?? []) : [];
    const args = rawArgs.filter((a) => a?.type !== 'KeywordArgumentExpression').map((a) => this.fold(a, d));
    const kwargs = new Map(rawArgs.filter((a) => a?.type === 'KeywordArgumentExpression').map((a) => [identName(a.key) ?? '', this.fold(a.value, d)] as const));
    if (['length', 'count', 'wordcount', 'int', 'float', 'abs', 'round'].includes(name ?? '')) {
      return name === 'length' && operand.known && (typeof operand.value === 'string' || Array.isArray(operand.value)) ? known(operand.value.length) : OPAQUE;
    }
    // A filter this folder does not evaluate, applied to a template constant, yields a template-made value:
    // (()|select|string) is '<generator object …>', a source of letters for a name.
    const fallback = operand.known ? STRINGY : unknownFrom(operand, ...args, ...kwargs.values());
    if (!operand.known || !args.every((a) => a.known) || ![...kwargs.values()].every((a) => a.known)) return fallback;
    const v = operand.value;
    const a = args.map((x) => (x as { value: Const }).value);
    const s = typeof v === 'string' ? v : null;
    switch (name) {
      case 'join': {
        const sep = a[0] ?? (kwargs.get('d') as { value?: Const } | undefined)?.value ?? '';
        const items = typeof v === 'string' ? [...v] : Array.isArray(v) ? v : v instanceof Map ? [...v.keys()] : null;
        return items && typeof sep === 'string' && !kwargs.has('attribute') ? boundedString(items.map(pyStr).join(sep)) : fallback;
      }
      case 'reverse': return s !== null ? known([...s].reverse().join('')) : Array.isArray(v) ? known([...v].reverse()) : fallback;
      case 'lower': return known(pyStr(v).toLowerCase());
      case 'upper': return known(pyStr(v).toUpperCase());
      case 'capitalize': { const t = pyStr(v); return known(t.charAt(0).toUpperCase() + t.slice(1).toLowerCase()); }
      case 'title': return known(pyStr(v).toLowerCase().replace(/(^|[^A-Za-z0-9])([a-z])/g, (_m, p: string, c: string) => p + c.toUpperCase()));
      case 'trim': return known(pyStr(v).trim());
      case 'string': case 'safe': case 'd': case 'default': return known(name === 'string' ? pyStr(v) : v);
      case 'e': case 'escape': case 'forceescape':
        return known(pyStr(v).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&#34;').replace(/'/g, '&#39;'));
      case 'first': case 'last': {
        const items = s !== null ? [...s] : Array.isArray(v) ? v : v instanceof Map ? [...v.keys()] : null;
        if (!items || items.length === 0) return fallback;
        return known(name === 'first' ? items[0]! : items[items.length - 1]!);
      }
      case 'list': return s !== null ? boundedList([...s]) : Array.isArray(v) ? known(v) : v instanceof Map ? known([...v.keys()]) : fallback;
      case 'sort':
        return Array.isArray(v) && v.every((x) => typeof x === 'string') && !kwargs.has('attribute')
          ? known([...(v as string[])].sort((x, y) => (x.toLowerCase() < y.toLowerCase() ? -1 : x.toLowerCase() > y.toLowerCase() ? 1 : 0)))
          : fallback;
      case 'replace': {
        const [from, to, cnt] = a;
        if (typeof from !== 'string' || typeof to !== 'string') return fallback;
        return boundedString(pyReplace(pyStr(v), from, to, isInt(cnt ?? null) ? (cnt as number) : -1));
      }
      case 'format': { if (s === null) return fallback; const r = pyPercent(s, kwargs.size > 0 ? new Map([...kwargs].map(([k2, f]) => [k2, (f as { value: Const }).value])) : a); return r === null ? STRINGY : boundedString(r); }
      case 'map': {
        const f = a[0];
        if (!Array.isArray(v) || typeof f !== 'string' || kwargs.size > 0) return fallback;
        const fake: Node = { type: 'Identifier', value: f };
        const out = v.map((x) => this.foldFilter(known(x), fake, d));
        return out.every((x) => x.known) ? known(out.map((x) => (x as { value: Const }).value)) : STRINGY;
      }
      default: return fallback;
    }
  }

  private foldCall(n: Node, d: number): Folded {
    const callee = n.callee as Node;
    const rawArgs = (n.args as Node[]) ?? [];
    const args = rawArgs.filter((a) => a?.type !== 'KeywordArgumentExpression').map((a) => this.fold(a, d));
    const kw = rawArgs.filter((a) => a?.type === 'KeywordArgumentExpression').map((a) => [identName(a.key) ?? '', this.fold(a.value, d)] as const);
    const all = [...args, ...kw.map(([, f]) => f)];
    const fn = identName(callee);
    if (fn !== null) {
      if (fn === 'dict' && args.length === 0 && kw.every(([, f]) => f.known)) return known(new Map(kw.map(([k, f]) => [k, (f as { value: Const }).value])));
      if (fn === 'range' && args.length >= 1 && args.every((a) => a.known && isInt(a.value))) {
        const [x, y, z] = args.map((a) => (a as { value: number }).value);
        const [start, stop, step] = args.length === 1 ? [0, x!, 1] : [x!, y!, z ?? 1];
        if (step === 0 || Math.abs((stop - start) / step) > FOLD_LIMITS.maxList) return STRINGY;
        const out: number[] = [];
        for (let i = start; step > 0 ? i < stop : i > stop; i += step) out.push(i);
        return known(out);
      }
      if (fn === 'namespace' || fn === 'raise_exception' || fn === 'len') return OPAQUE;
      return STRINGY; // A macro's output, or any other callable's, is text the template produced.
    }
    if (callee?.type !== 'MemberExpression' || callee.computed) return STRINGY;
    const method = identName(callee.property);
    const recv = this.fold(callee.object, d);
    const fallback = recv.known ? STRINGY : unknownFrom(recv, ...all);
    if (!recv.known || !all.every((f) => f.known) || method === null) return fallback;
    const v = recv.value;
    const a = args.map((x) => (x as { value: Const }).value);
    if (v instanceof Map) {
      if (method === 'get') { const k = a[0]; return typeof k === 'string' && v.has(k) ? known(v.get(k)!) : a.length > 1 ? known(a[1]!) : known(null); }
      if (method === 'keys') return known([...v.keys()]);
      if (method === 'values') return known([...v.values()]);
      if (method === 'items') return known([...v.entries()].map(([k, x]) => [k, x]));
      return fallback;
    }
    if (typeof v !== 'string') return fallback;
    const chars = typeof a[0] === 'string' ? a[0] : null;
    switch (method) {
      case 'upper': return known(v.toUpperCase());
      case 'lower': return known(v.toLowerCase());
      case 'swapcase': return known([...v].map((c) => (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase())).join(''));
      case 'title': case 'capitalize': return this.foldFilter(recv, { type: 'Identifier', value: method }, d);
      case 'strip': case 'lstrip': case 'rstrip': return known(pyStrip(v, chars, method));
      case 'replace': {
        const [from, to, cnt] = a;
        return typeof from === 'string' && typeof to === 'string' ? boundedString(pyReplace(v, from, to, isInt(cnt ?? null) ? (cnt as number) : -1)) : fallback;
      }
      case 'join': { const items = typeof a[0] === 'string' ? [...a[0]] : Array.isArray(a[0]) ? a[0] : null; return items ? boundedString(items.map(pyStr).join(v)) : fallback; }
      case 'format': {
        const r = pyStrFormat(v, a, new Map(kw.map(([k, f]) => [k, (f as { value: Const }).value])));
        return r === null ? STRINGY : boundedString(r);
      }
      case 'split': {
        if (a.length === 0) return boundedList(v.split(/\s+/).filter((x) => x !== ''));
        return chars ? boundedList(v.split(chars)) : fallback;
      }
      default: return fallback;
    }
  }
}

function identName(n: unknown): string | null {
  const x = n as Node | null;
  return x && x.type === 'Identifier' && typeof x.value === 'string' ? x.value : null;
}

/** The names an assignment or loop target binds: `x`, `a, b`, or the namespace field `ns.x`. */
function targetNames(n: unknown): string[] {
  const x = n as Node | null;
  if (!x) return [];
  const id = identName(x);
  if (id) return [id];
  if (x.type === 'TupleLiteral' || x.type === 'ArrayLiteral') return ((x.value as unknown[]) ?? []).flatMap(targetNames);
  if (x.type === 'MemberExpression' && !x.computed) {
    const o = identName(x.object), p = identName(x.property);
    if (o && p) return [`${o}.${p}`];
  }
  return [];
}

function pyReplace(s: string, from: string, to: string, count: number): string {
  if (from === '') return s; // Python inserts `to` between every character; no template needs it, and the result is not a name.
  let out = '', i = 0, done = 0;
  for (;;) {
    const j = s.indexOf(from, i);
    if (j < 0 || (count >= 0 && done >= count)) return out + s.slice(i);
    out += s.slice(i, j) + to;
    i = j + from.length;
    done++;
  }
}

function pyStrip(s: string, chars: string | null, side: 'strip' | 'lstrip' | 'rstrip'): string {
  const set = chars === null ? null : new Set(chars);
  const drop = (c: string) => (set ? set.has(c) : /\s/.test(c));
  let a = 0, b = s.length;
  if (side !== 'rstrip') while (a < b && drop(s[a]!)) a++;
  if (side !== 'lstrip') while (b > a && drop(s[b - 1]!)) b--;
  return s.slice(a, b);
}
