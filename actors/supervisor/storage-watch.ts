// Watches free space under SECAI_HOME: below the minimum the appliance is in degraded_storage, above it again it recovers.
import { storageState, type StorageState } from '../../common/storage.js';
import type { Logger } from '../../common/log.js';

export interface StorageWatchOptions {
  home: string;
  minFreeMb: number;
  intervalMs: number;
  log: Logger;
  onChange: (state: StorageState, info: { freeMb: number; minFreeMb: number }) => void;
}

/**
 * The supervisor's view, for health, status and the audit trail. The refusals themselves do not wait for it: each
 * actor that takes new work checks the disk at the moment it would take it (common/storage.ts).
 */
export class StorageWatch {
  private timer: NodeJS.Timeout | undefined;
  state: StorageState = 'ok';
  freeMb = 0;

  constructor(private readonly o: StorageWatchOptions) {}

  start(): void {
    this.check();
    this.timer = setInterval(() => this.check(), this.o.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  check(): StorageState {
    let s;
    try {
      s = storageState(this.o.home, this.o.minFreeMb);
    } catch (err) {
      // statfs failing on our own home is itself a storage fault.
      this.o.log.error({ err: (err as Error).message }, 'cannot read free space under SECAI_HOME');
      s = { state: 'degraded_storage' as const, freeMb: 0, minFreeMb: this.o.minFreeMb };
    }
    this.freeMb = s.freeMb;
    // Recovery needs a margin above the minimum: free space that hovers at the line would otherwise flip the state
    // (and restart the bus each time, supervisor.ts setJetStream) on every check.
    if (this.state === 'degraded_storage' && s.state === 'ok' && s.freeMb < s.minFreeMb + recoveryMarginMb(s.minFreeMb)) return this.state;
    if (s.state !== this.state) {
      this.state = s.state;
      if (s.state === 'degraded_storage') this.o.log.error({ freeMb: s.freeMb, minFreeMb: s.minFreeMb }, 'storage low: degraded_storage (imports and uploads refused)');
      else this.o.log.warn({ freeMb: s.freeMb, minFreeMb: s.minFreeMb }, 'storage recovered');
      this.o.onChange(s.state, { freeMb: s.freeMb, minFreeMb: s.minFreeMb });
    }
    return this.state;
  }
}

/** How far above the minimum free space must be before degraded_storage ends: an eighth of it, 1 to 64 MiB. */
export function recoveryMarginMb(minFreeMb: number): number {
  return Math.min(64, Math.max(1, Math.round(minFreeMb / 8)));
}
