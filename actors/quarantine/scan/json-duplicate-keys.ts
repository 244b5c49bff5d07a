// Finds a repeated member name in a JSON text: JSON.parse keeps the last one silently, other loaders the first.

/** The index of the quote that closes the string opened at `open` (a quote preceded by an odd run of backslashes is escaped). */
function closingQuote(text: string, open: number): number {
  for (let j = text.indexOf('"', open + 1); ; j = text.indexOf('"', j + 1)) {
    let k = j - 1;
    while (text.charCodeAt(k) === 0x5c) k--;
    if ((j - 1 - k) % 2 === 0) return j;
  }
}

/**
 * The first member name that occurs twice in one object of `text` (compared after unescaping, so `"a"` and
 * `"\u0061"` are the same name), with the path of that object; null if there is none. `text` must already
 * be valid JSON (JSON.parse accepted it): this walk only tracks strings and nesting, it does not validate.
 */
export function duplicateKey(text: string): { key: string; at: string } | null {
  // One frame per open object or array; an object remembers its names and whether a name comes next.
  const stack: { names: Set<string> | null; path: string; expectName: boolean; last: string }[] = [];
  const syntax = /["{}[\],]/g;
  for (let m = syntax.exec(text); m; m = syntax.exec(text)) {
    const i = m.index;
    const c = m[0];
    if (c === '"') {
      const j = closingQuote(text, i);
      const top = stack.at(-1);
      if (top?.names && top.expectName) {
        const raw = text.slice(i + 1, j);
        // Unescaped only when it holds an escape: most names are plain, and this runs once per tensor.
        const name = raw.includes('\\') ? (JSON.parse(`"${raw}"`) as string) : raw;
        if (top.names.has(name)) return { key: name, at: top.path || '(top level)' };
        top.names.add(name);
        top.last = name;
        top.expectName = false;
      }
      syntax.lastIndex = j + 1;
    } else if (c === '{' || c === '[') {
      const top = stack.at(-1);
      const path = top ? (top.names ? `${top.path}${top.path ? '.' : ''}${top.last}` : `${top.path}[]`) : '';
      stack.push({ names: c === '{' ? new Set() : null, path, expectName: c === '{', last: '' });
    } else if (c === '}' || c === ']') {
      stack.pop();
    } else {
      const top = stack.at(-1);
      if (top?.names) top.expectName = true;
    }
  }
  return null;
}
