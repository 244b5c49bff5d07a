// Shared test helpers for the quarantine engine: temp dirs, artifacts, and running a stage with defaults.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { Artifact } from '../../actors/quarantine/stages/types.js';

export function tempDir(t: { teardown: (fn: () => void) => void }, prefix = 'secai-q-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

export function artifact(path: string, kind: Artifact['kind'] = 'file', name = basename(path)): Artifact {
  return { path, kind, name, origin: { type: 'local' }, size: 0 };
}

export function writeTo(dir: string, name: string, data: Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, data);
  return p;
}

export const noProgress = (): void => {};
