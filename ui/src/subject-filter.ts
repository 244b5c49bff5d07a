// Pure filters of the audit tap: NATS-style subject patterns and the actor a subject belongs to.

/** NATS-style subject pattern: `*` one token, `>` the rest; an empty pattern matches everything. */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.trim();
  if (!p) return true;
  const a = p.split('.');
  const b = subject.split('.');
  for (let i = 0; i < a.length; i++) {
    if (a[i] === '>') return b.length > i;
    if (i >= b.length) return false;
    if (a[i] !== '*' && a[i] !== b[i]) return false;
  }
  return a.length === b.length;
}

/** The actor a subject belongs to: `secai.evt.<actor>.x`, `secai.cmd.<actor>.x`. */
export function subjectActor(subject: string): string {
  const p = subject.split('.');
  return (p[1] === 'evt' || p[1] === 'cmd' ? p[2] : p[1]) ?? '';
}
