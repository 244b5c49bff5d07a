// inotify on the watched files: a change is checked within a moment instead of at the next periodic scan.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Logger } from '../../common/log.js';
import type { Root } from './targets.js';

/** Events gathered this long are checked together (a model being copied writes many times). */
const SETTLE_MS = 150;

/**
 * Runs `inotifywait -m -r` over the roots and calls `touched` with the paths that changed, a batch per
 * SETTLE_MS. A watched file replaced by a rename loses its watch, so the watcher restarts after one; the
 * periodic scan covers anything missed in between. Canary names are excluded (they have their own watchers).
 */
export function watchChanges(roots: readonly Root[], canaryNames: readonly string[], touched: (paths: string[]) => void, log: Logger): () => void {
  let stopped = false;
  let child: ChildProcess | undefined;
  let batch = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    timer = undefined;
    const paths = [...batch];
    batch = new Set();
    if (paths.length) touched(paths);
  };
  const start = () => {
    if (stopped) return;
    const targets = roots.map((r) => r.path).filter((p) => existsSync(p));
    const exclude = canaryNames.length ? ['--exclude', `(^|/)(${canaryNames.map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})$`] : [];
    const c = spawn('inotifywait', ['-m', '-r', '-q', '-e', 'modify,close_write,attrib,create,delete,move,delete_self,move_self', ...exclude, '--format', '%e|%w%f', ...targets], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    let buf = '';
    let restart = false;
    c.stdout!.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        const bar = line.indexOf('|');
        if (bar < 0) continue;
        const events = line.slice(0, bar);
        const path = line.slice(bar + 1).replace(/\/$/, '');
        if (/DELETE_SELF|MOVE_SELF/.test(events)) restart = true;
        batch.add(path);
        timer ??= setTimeout(flush, SETTLE_MS);
      }
      if (restart) { restart = false; c.kill('SIGTERM'); }
    });
    c.stderr!.setEncoding('utf8').on('data', (d: string) => log.warn({ err: d.trim().slice(0, 512) }, 'change watcher'));
    c.once('error', (err) => log.error({ err: err.message }, 'inotifywait cannot run (is inotify-tools installed? npm run setup): only the periodic scan checks files'));
    c.once('exit', () => { if (!stopped) setTimeout(start, 500).unref(); });
  };
  start();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    child?.kill('SIGTERM');
  };
}
