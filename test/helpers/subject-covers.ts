// Test helper: does a list of NATS subject patterns cover a subject? (`*` one token, `>` one or more to the end)
export function covers(patterns: readonly string[], subject: string): boolean {
  const s = subject.split('.');
  return patterns.some((p) => {
    const q = p.split('.');
    for (let i = 0; i < q.length; i++) {
      if (q[i] === '>') return i < s.length;
      if (i >= s.length || (q[i] !== '*' && q[i] !== s[i])) return false;
    }
    return q.length === s.length;
  });
}
