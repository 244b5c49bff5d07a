// The agent's freeze on disk: written before the machine is told, read at start, so a crash or a restart cannot undo
// what an incident contained. Only the signed operator unfreeze removes it (as the airlock's containment).
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../common/fs-atomic.js';
import type { Frozen } from '../../machines/agent/agent.machine.js';

export const frozenPath = (home: string): string => join(home, 'agent', 'frozen.json');

/** The freeze in force, or null. A file that exists but cannot be read as one is itself a freeze (fail closed). */
export function readFrozen(file: string): Frozen | null {
  if (!existsSync(file)) return null;
  try {
    const f = JSON.parse(readFileSync(file, 'utf8')) as Partial<Frozen>;
    if (typeof f.incidentId === 'string' && typeof f.reason === 'string' && typeof f.at === 'number') {
      return { incidentId: f.incidentId.slice(0, 128), reason: f.reason.slice(0, 512), at: f.at };
    }
  } catch {
    // lint-ok: an unreadable record is answered below: frozen, with the reason saying so
  }
  return { incidentId: 'unknown', reason: `the freeze record ${file} is unreadable: frozen until an operator runs securectl agent unfreeze`, at: Date.now() };
}

export function writeFrozen(file: string, f: Frozen): void {
  mkdirSync(join(file, '..'), { recursive: true, mode: 0o700 });
  writeFileAtomic(file, JSON.stringify(f) + '\n', 0o600);
}

export const clearFrozen = (file: string): void => rmSync(file, { force: true });
