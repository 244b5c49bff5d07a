// The audit chain on a real full filesystem (a tiny tmpfs; needs root): a failed append leaves no half record and no
// moved head, the same messages are appended once space returns, and the chain verifies.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { AuditChain, verifyChain, type AuditInput } from '../../actors/audit/audit-chain.js';

const root = process.getuid?.() === 0;
const KEY = new Uint8Array(randomBytes(32));

t.test('audit chain (slow) — ENOSPC mid-batch: all or nothing, then the same batch appends after space returns', { skip: root ? false : 'needs root to mount a tmpfs' }, async (t) => {
  const mnt = mkdtempSync(join(tmpdir(), 'secai-chainfull-'));
  t.equal(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt]).status, 0, 'tmpfs mounted');
  t.teardown(() => { spawnSync('umount', ['-l', mnt]); rmSync(mnt, { recursive: true, force: true }); });
  const chain = new AuditChain(mnt, KEY);
  chain.open();
  let seq = 0;
  const batch = (n: number, bytes: number): AuditInput[] => Array.from({ length: n }, () => {
    const payload = { blob: 'x'.repeat(bytes), n: ++seq };
    return { stream: 'AUDIT_EVT', streamSeq: seq, subject: 'secai.evt.test.filled', raw: Buffer.from(JSON.stringify(payload)), payload, at: 1 };
  });
  chain.append(batch(5, 100));
  t.equal(chain.length, 5);

  // Fill what is left, then try a batch that cannot fit.
  spawnSync('dd', ['if=/dev/zero', `of=${join(mnt, 'ballast')}`, 'bs=4k'], { stdio: 'ignore' });
  const sizeBefore = statSync(chain.file).size;
  const big = batch(40, 4000);
  t.throws(() => chain.append(big), { code: 'ENOSPC' }, 'the append fails');
  t.equal(statSync(chain.file).size, sizeBefore, 'no half record left in the file');
  t.equal(chain.length, 5, 'the chain did not move');
  t.notOk(chain.has('AUDIT_EVT', big[0]!.streamSeq), 'the failed messages are not counted as written');
  t.equal(readFileSync(chain.file, 'utf8').split('\n').filter(Boolean).length, 5);

  rmSync(join(mnt, 'ballast'));
  const written = chain.append(big);
  t.equal(written.length, 40, 'the same batch appends once space returns');
  t.equal(chain.length, 45);
  const v = await verifyChain(mnt, KEY);
  t.equal(v.ok, true, `the chain verifies: ${JSON.stringify(v)}`);
});
