// sd_notify — the datagrams reach a real AF_UNIX datagram socket (a stand-in for systemd's NOTIFY_SOCKET).
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sdNotify, watchdogMs } from '../../actors/supervisor/sd-notify.js';

// The receiver: binds the socket, prints every datagram on one line, closes the fds a BARRIER=1 passes (as systemd does).
const RECEIVER = `
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print('bound', flush=True)
while True:
    data, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(16 * 4))
    for level, kind, raw in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            for i in range(0, len(raw) - len(raw) % 4, 4):
                os.close(int.from_bytes(raw[i:i + 4], sys.byteorder))
    print(data.decode().replace(chr(10), '|'), flush=True)
`;

t.test('sd-notify — READY=1 and WATCHDOG=1 arrive as datagrams on NOTIFY_SOCKET', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'secai-notify-'));
  const sock = join(dir, 'notify');
  const rx = spawn('python3', ['-c', RECEIVER, sock], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => { rx.kill(); rmSync(dir, { recursive: true, force: true }); });
  let out = '';
  const waiters: (() => void)[] = [];
  rx.stdout!.on('data', (d: Buffer) => { out += d.toString(); waiters.splice(0).forEach((w) => w()); });
  const seen = async (want: string) => { while (!out.includes(want)) await new Promise<void>((r) => waiters.push(r)); };
  await seen('bound');
  t.ok(existsSync(sock));
  const env = { NOTIFY_SOCKET: sock, PATH: process.env.PATH! };
  t.equal(await sdNotify({ READY: '1', STATUS: '11 actors ready' }, env), true, 'systemd-notify reports success');
  await seen('READY=1');
  t.match(out, /STATUS=11 actors ready/);
  t.equal(await sdNotify({ WATCHDOG: '1' }, env), true);
  await seen('WATCHDOG=1');
});

t.test('sd-notify — without NOTIFY_SOCKET nothing is sent; the watchdog period comes from WATCHDOG_USEC for this pid', async (t) => {
  t.equal(await sdNotify({ READY: '1' }, {}), false);
  t.equal(watchdogMs({}), 0);
  t.equal(watchdogMs({ WATCHDOG_USEC: '30000000' }), 30_000);
  t.equal(watchdogMs({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '1' }, 2), 0, 'meant for another pid');
  t.equal(watchdogMs({ WATCHDOG_USEC: 'x' }), 0);
});
