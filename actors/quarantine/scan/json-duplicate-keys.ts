// Finds a repeated member name in a JSON text: JSON.parse keeps the last one silently, other loaders the first.

/**
 * The first member name that occurs twice in one object of `text` (compared after unescaping, so `"a"` and
 * `"\u0061"` are the same name), with the path of that object; null if there is none. `text` must already
 * be valid JSON (JSON.parse accepted it): this walk only tracks strings and nesting, it does not validate.
 */
export function duplicateKey(text: string): { key: string; at: string } | null {
  // One frame per open object or array; an object remembers its names and whether a name comes next.
  const stack: { names: Set<string> | null; path: string; expectName: boolean; last: string }[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      const top = stack.at(-1);
      if (top?.names && top.expectName) {
        const name = JSON.parse(text.slice(i, j + 1)) as string;
        if (top.names.has(name)) return { key: name, at: top.path || '(top level)' };
        top.names.add(name);
        top.last = name;
        top.expectName = false;
      }
      i = j;
    } else if (c === '{' || c === '[') {
      const top = stack.at(-1);
      const path = top ? (top.names ? `${top.path}${top.path ? '.' : ''}${top.last}` : `${top.path}[]`) : '';
      stack.push({ names: c === '{' ? new Set() : null, path, expectName: c === '{', last: '' });
    } else if (c === '}' || c === ']') {
      stack.pop();
    } else if (c === ',') {
      const top = stack.at(-1);
      if (top?.names) top.expectName = true;
    }
  }
  return null;
}
