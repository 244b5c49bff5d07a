// The supervisor's free-space watch: degraded below the minimum, recovered only a margin above it (no flapping).
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StorageWatch, recoveryMarginMb } from '../../actors/supervisor/storage-watch.js';
import { freeMb } from '../../common/storage.js';
import { createLogger } from '../../common/log.js';

t.test('storage watch — recovery needs a margin above the minimum, so free space at the line does not flip the state (each flip restarts the bus)', async (t) => {
  const home = mkdtempSync(join(tmpdir(), 'secai-sw-'));
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  t.equal(recoveryMarginMb(256), 32);
  t.equal(recoveryMarginMb(4), 1, 'at least 1 MiB');
  t.equal(recoveryMarginMb(100_000), 64, 'at most 64 MiB');
  const changes: string[] = [];
  // The minimum is moved around today's free space (the same filesystem, read for real at each check).
  const o = { home, minFreeMb: 0, intervalMs: 60_000, log: createLogger('test-storage-watch'), onChange: (s: string) => { changes.push(s); } };
  const w = new StorageWatch(o);
  const free = Math.floor(freeMb(home));
  t.ok(free > 2048, `enough free space for the test (${free} MiB)`);
  o.minFreeMb = free + 1000;
  t.equal(w.check(), 'degraded_storage', 'below the minimum');
  o.minFreeMb = free - 10;
  t.equal(w.check(), 'degraded_storage', 'just above the minimum (inside the margin): still degraded');
  o.minFreeMb = free - 1000;
  t.equal(w.check(), 'ok', 'well above it: recovered');
  o.minFreeMb = free - 10;
  t.equal(w.check(), 'ok', 'going down to just above the line does not degrade');
  t.same(changes, ['degraded_storage', 'ok'], 'one change each way');
});
