// Python's value semantics that Jinja inherits (str(), repr(), slices, % and str.format), for folding template constants.

/** A constant a template can compute: Python str, int/float, bool, None, list/tuple, dict. */
export type Const = string | number | boolean | null | readonly Const[] | ReadonlyMap<string, Const>;

export function pyRepr(v: Const): string {
  if (typeof v === 'string') return `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  if (Array.isArray(v)) return `[${v.map(pyRepr).join(', ')}]`;
  if (v instanceof Map) return `{${[...v].map(([k, x]) => `${pyRepr(k)}: ${pyRepr(x)}`).join(', ')}}`;
  return pyStr(v);
}

export function pyStr(v: Const): string {
  if (typeof v === 'string') return v;
  if (v === null) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'number') return String(v);
  return pyRepr(v);
}

/** The indices Python's s[start:stop:step] selects from a sequence of length len (step ≠ 0). */
export function pySlice(len: number, start: number | null, stop: number | null, step: number | null): number[] {
  const st = step ?? 1;
  const norm = (x: number | null, dflt: number, lo: number, hi: number) => {
    if (x === null) return dflt;
    const y = x < 0 ? x + len : x;
    return Math.min(Math.max(y, lo), hi);
  };
  const out: number[] = [];
  if (st > 0) {
    const a = norm(start, 0, 0, len), b = norm(stop, len, 0, len);
    for (let i = a; i < b; i += st) out.push(i);
  } else {
    const a = norm(start, len - 1, -1, len - 1), b = norm(stop, -1, -1, len - 1);
    for (let i = a; i > b; i += st) out.push(i);
  }
  return out;
}

/** `fmt % args` as Python computes it for the conversions templates use; null when the format is beyond this model. */
export function pyPercent(fmt: string, args: Const): string | null {
  const list: readonly Const[] = Array.isArray(args) ? args : [args];
  const dict = args instanceof Map ? args : null;
  let i = 0, bad = false;
  const out = fmt.replace(/%(\(([^)]*)\))?[-#0 +]*(\d+|\*)?(?:\.(\d+))?([sdirxXoca%])/g, (_m, _p, key: string | undefined, _w, _prec, conv: string) => {
    if (conv === '%') return '%';
    const v = key !== undefined ? dict?.get(key) : list[i++];
    if (v === undefined) { bad = true; return ''; }
    switch (conv) {
      case 's': return pyStr(v);
      case 'r': case 'a': return pyRepr(v);
      case 'c': return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0x10ffff ? String.fromCodePoint(v) : typeof v === 'string' && [...v].length === 1 ? v : (bad = true, '');
      case 'd': case 'i': return typeof v === 'number' ? String(Math.trunc(v)) : (bad = true, '');
      case 'x': return typeof v === 'number' ? Math.trunc(v).toString(16) : (bad = true, '');
      case 'X': return typeof v === 'number' ? Math.trunc(v).toString(16).toUpperCase() : (bad = true, '');
      case 'o': return typeof v === 'number' ? Math.trunc(v).toString(8) : (bad = true, '');
      default: bad = true; return '';
    }
  });
  return bad ? null : out;
}

/**
 * str.format for plain fields ({}, {0}, {name}, with !s/!r and a spec ignored); null for anything else,
 * in particular a field that reads an attribute or item ({0.__class__}), which the scanner judges on its own.
 */
export function pyStrFormat(fmt: string, args: readonly Const[], kwargs: ReadonlyMap<string, Const>): string | null {
  let auto = 0, bad = false;
  const out = fmt.replace(/\{\{|\}\}|\{([^{}]*)\}/g, (m, field: string | undefined) => {
    if (m === '{{') return '{';
    if (m === '}}') return '}';
    const f = /^([^!:]*)(?:!([rsa]))?(?::.*)?$/.exec(field ?? '');
    const name = f?.[1] ?? '';
    if (!f || /[.[]/.test(name)) { bad = true; return ''; }
    const v = name === '' ? args[auto++] : /^\d+$/.test(name) ? args[Number(name)] : kwargs.get(name);
    if (v === undefined) { bad = true; return ''; }
    return f[2] === 'r' || f[2] === 'a' ? pyRepr(v) : pyStr(v);
  });
  return bad ? null : out;
}
