// Watches quarantine/incoming/: an entry is taken once its size and mtime have been stable for `settleMs`; links are refused.
import { lstatSync, mkdirSync, readdirSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { measure } from './ingest.js';
import { SIDECAR_SUFFIXES } from './stages/provenance.js';

export interface WatcherOptions {
  dir: string;
  settleMs: number;
  onReady: (path: string, name: string) => void;
  onRefused: (name: string, reason: string) => void;
  /**
   * Why nothing may be taken now (degraded_storage: a copy into work/ would eat the space left), or undefined.
   * A settled entry then waits in incoming/, untouched, and is taken on the first poll after the reason clears.
   */
  holdReason?: () => string | undefined;
  /** Told once per entry that waits, with the reason. */
  onHeld?: (name: string, reason: string) => void;
}

/** Names the watcher never takes: hidden files (downloads in progress) and signature sidecars (taken with their model). */
export function ignoredName(name: string): boolean {
  return name.startsWith('.') || SIDECAR_SUFFIXES.some((s) => name.endsWith(s)) || /\.(part|partial|tmp|crdownload)$/i.test(name);
}

export class IncomingWatcher {
  private seen = new Map<string, { sig: string; since: number }>();
  private refused = new Set<string>();
  private held = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private fsw: FSWatcher | undefined;

  constructor(private readonly o: WatcherOptions) {}

  start(): void {
    mkdirSync(this.o.dir, { recursive: true, mode: 0o700 });
    this.timer = setInterval(() => this.poll(), Math.max(50, Math.floor(this.o.settleMs / 2)));
    try { this.fsw = watch(this.o.dir, () => this.poll()); } catch { /* lint-ok: polling alone still works */ }
    this.poll();
  }

  stop(): void {
    clearInterval(this.timer);
    this.fsw?.close();
  }

  poll(now = Date.now()): void {
    let names: string[];
    try { names = readdirSync(this.o.dir); } catch { return; }
    const present = new Set(names);
    for (const k of [...this.seen.keys()]) if (!present.has(k)) this.seen.delete(k);
    for (const k of [...this.refused]) if (!present.has(k)) this.refused.delete(k);
    for (const k of [...this.held]) if (!present.has(k)) this.held.delete(k);
    let hold: string | undefined | null = null; // asked at most once per poll, and only when an entry has settled
    for (const name of names) {
      if (ignoredName(name) || this.refused.has(name)) continue;
      const path = join(this.o.dir, name);
      let sig: string;
      try {
        if (lstatSync(path).isSymbolicLink()) throw new Error(`${name} is a symbolic link: links are never followed`);
        const m = measure(path);
        sig = `${m.kind}:${m.size}:${m.newestMs}:${m.count}`;
      } catch (err) {
        this.refused.add(name);
        this.o.onRefused(name, (err as Error).message);
        continue;
      }
      const prev = this.seen.get(name);
      if (!prev || prev.sig !== sig) { this.seen.set(name, { sig, since: now }); continue; }
      if (now - prev.since >= this.o.settleMs) {
        if (hold === null) hold = this.o.holdReason?.();
        if (hold !== undefined) {
          if (!this.held.has(name)) { this.held.add(name); this.o.onHeld?.(name, hold); }
          continue;
        }
        this.held.delete(name);
        this.seen.delete(name);
        this.refused.add(name); // until it leaves incoming/ (ingest moves it)
        this.o.onReady(path, name);
      }
    }
  }
}
