// Canary files: planted in the sensitive folders under names that look worth stealing, and watched with inotifywait for any touch.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { lstatSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../common/fs-atomic.js';
import type { Logger } from '../../common/log.js';
import type { HomePaths } from '../../common/paths.js';
import type { CanaryTouch } from '../../machines/integrity/integrity.machine.js';

export interface Canary { name: string; path: string; content: () => string }

/**
 * Where the canaries live and what they look like. Nothing in the appliance opens these names: the vault reads
 * vault.json and records/, the registry its manifest and <sha256>/ folders, the quarantine incoming/ and work/,
 * and keys/ holds only the files common/paths.ts names. The integrity scan skips them (it never lists or opens them).
 */
export function canaries(p: HomePaths): Canary[] {
  const token = (n: number) => randomBytes(n).toString('hex');
  return [
    { name: 'vault recovery key', path: join(p.vault, 'recovery-key.txt'), content: () => `SecAI vault recovery key (keep offline)\n${token(32).match(/.{8}/g)!.join('-')}\n` },
    { name: 'backup operator key', path: join(p.keys, 'operator-backup.ed25519'), content: () => `-----BEGIN OPENSSH PRIVATE KEY-----\n${randomBytes(180).toString('base64')}\n-----END OPENSSH PRIVATE KEY-----\n` },
    { name: 'model hub token', path: join(p.registry, 'hf-token.txt'), content: () => `hf_${randomBytes(26).toString('base64url')}\n` },
    { name: 'cloud credentials', path: join(p.quarantine, 'cloud-credentials.env'), content: () => `AWS_ACCESS_KEY_ID=AKIA${token(8).toUpperCase()}\nAWS_SECRET_ACCESS_KEY=${randomBytes(30).toString('base64')}\n` },
  ];
}

/** Plants a canary unless it is there (lstat only: checking must not touch it). Returns whether it planted one. */
export function plant(c: Canary): boolean {
  try {
    lstatSync(c.path);
    return false;
  } catch {
    // lint-ok: absent: plant it (below)
  }
  mkdirSync(join(c.path, '..'), { recursive: true, mode: 0o700 });
  writeFileAtomic(c.path, c.content(), 0o600);
  return true;
}

/** The events that count as a touch: a read, a write, a change of mode or owner, a removal or a move. */
const EVENTS = ['open', 'access', 'modify', 'attrib', 'delete_self', 'move_self'];

/**
 * Watches every canary, one inotifywait each, and calls `touched` for each event at once. A canary removed or
 * moved away is planted again (before its watcher restarts, so planting reports nothing) and reported as such.
 */
export function watchCanaries(list: readonly Canary[], touched: (t: CanaryTouch) => void, watching: (path: string) => void, log: Logger): () => void {
  const children = new Map<string, ChildProcess>();
  let stopped = false;
  const start = (c: Canary) => {
    if (stopped) return;
    const replanted = plant(c);
    // No -q: inotifywait says "Watches established." on stderr once it watches; events come on stdout, flushed per line.
    const child = spawn('inotifywait', ['-m', ...EVENTS.flatMap((e) => ['-e', e]), '--format', '%e', c.path], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.set(c.path, child);
    let buf = '';
    let gone = false;
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const events = buf.slice(0, i).trim();
        buf = buf.slice(i + 1);
        if (!events || events === 'IGNORED') continue;
        const removed = /DELETE_SELF|MOVE_SELF/.test(events);
        if (removed) gone = true;
        touched({ name: c.name, path: c.path, event: events, at: Date.now(), replanted: false });
        if (removed) child.kill('SIGTERM');
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      if (d.includes('Watches established')) watching(c.path);
      if (!/Setting up watches|Watches established/.test(d)) log.warn({ canary: c.path, err: d.trim().slice(0, 512) }, 'canary watcher');
    });
    child.once('error', (err) => log.error({ err: err.message, canary: c.path }, 'inotifywait cannot run (is inotify-tools installed? npm run setup)'));
    child.once('exit', () => {
      if (stopped || children.get(c.path) !== child) return;
      // Removed or moved: plant it again and say so; any other exit: watch again after a pause (no busy loop).
      setTimeout(() => {
        if (stopped) return;
        const again = plant(c);
        if (gone || again) touched({ name: c.name, path: c.path, event: 'REPLANTED', at: Date.now(), replanted: true });
        start(c);
      }, gone ? 0 : 1000).unref();
    });
    if (replanted) log.info({ canary: c.path }, 'canary planted');
  };
  for (const c of list) start(c);
  return () => {
    stopped = true;
    for (const ch of children.values()) ch.kill('SIGTERM');
  };
}
