// The airlock's containment on disk: written before the machine is told, read at start, so a crash or a restart
// cannot undo what an incident contained. Only the signed operator enable removes it.
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../common/fs-atomic.js';
import type { AirlockContainment } from '../../machines/airlock/airlock.machine.js';

export const containmentPath = (home: string): string => join(home, 'airlock', 'containment.json');

/**
 * The containment in force, or null when there is none. A file that exists but cannot be read as one is itself a
 * containment (fail closed): someone or something changed it, and only an operator decides the airlock is safe.
 */
export function readContainment(file: string): AirlockContainment | null {
  if (!existsSync(file)) return null;
  try {
    const c = JSON.parse(readFileSync(file, 'utf8')) as Partial<AirlockContainment>;
    if (typeof c.incidentId === 'string' && typeof c.reason === 'string' && typeof c.at === 'number') {
      return { incidentId: c.incidentId.slice(0, 128), reason: c.reason.slice(0, 512), at: c.at };
    }
  } catch {
    // lint-ok: an unreadable record is answered below: contained, with the reason saying so
  }
  return { incidentId: 'unknown', reason: `the containment record ${file} is unreadable: contained until an operator enables the airlock`, at: Date.now() };
}

export function writeContainment(file: string, c: AirlockContainment): void {
  mkdirSync(join(file, '..'), { recursive: true, mode: 0o700 });
  writeFileAtomic(file, JSON.stringify(c) + '\n', 0o600);
}

export function clearContainment(file: string): void {
  rmSync(file, { force: true });
}
