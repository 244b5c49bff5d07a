// Test helper: an attacker without credentials who keeps `concurrency` raw TCP sockets open to a loopback
// port, reconnecting each as soon as the server drops it, for a bounded time; run as its own process.
import { fork, type ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';

export interface FloodOptions {
  port: number;
  /** Sockets kept open (or reconnecting) at once. */
  concurrency: number;
  /** The flood stops by itself after this long. */
  durationMs: number;
  /** An upper bound on connection attempts, whatever the time. */
  maxAttempts: number;
  /** Answer the server's INFO with a CONNECT that has no credentials (a failed login: one log line each). */
  badConnect?: boolean;
}

export interface FloodStats { attempts: number; refusedOrDropped: number; ms: number }

export interface Flood {
  /** Resolves once `concurrency` sockets were opened (the slots are under attack). */
  started: Promise<void>;
  /** Resolves with the attacker's figures when it stopped (by time, by count or by stop()). */
  done: Promise<FloodStats>;
  stop(): void;
  child: ChildProcess;
}

/** Forks this file as the attacker: its own event loop, so the test's waits do not pause the flood. */
export function startFlood(o: FloodOptions): Flood {
  const child = fork(fileURLToPath(import.meta.url), [JSON.stringify(o)], { execArgv: ['--import=tsx'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  let onStarted: () => void = () => {};
  const started = new Promise<void>((r) => { onStarted = r; });
  const done = new Promise<FloodStats>((resolve, reject) => {
    child.on('message', (m: { type?: string; stats?: FloodStats }) => {
      if (m?.type === 'started') onStarted();
      if (m?.type === 'done' && m.stats) resolve(m.stats);
    });
    child.once('exit', (code) => reject(new Error(`flooder exited (${code}) without its figures`)));
  });
  return { started, done, child, stop: () => { if (child.connected) child.send({ type: 'stop' }); } };
}

function runFlood(o: FloodOptions): void {
  const t0 = Date.now();
  const live = new Set<Socket>();
  let attempts = 0;
  let dropped = 0;
  let stopping = false;
  let announced = false;
  const finish = () => {
    if (stopping) return;
    stopping = true;
    for (const s of live) s.destroy();
    const stats: FloodStats = { attempts, refusedOrDropped: dropped, ms: Date.now() - t0 };
    if (process.send) process.send({ type: 'done', stats }, () => process.exit(0));
    else process.exit(0);
  };
  const open = (): void => {
    if (stopping || attempts >= o.maxAttempts || Date.now() - t0 >= o.durationMs) return;
    attempts++;
    // No valid CONNECT is ever sent: the socket only occupies a slot until the server gives up on it.
    const s = connect({ port: o.port, host: '127.0.0.1' });
    live.add(s);
    s.on('error', () => {});
    s.on('data', () => { if (o.badConnect) s.write('CONNECT {"verbose":false,"pedantic":false}\r\nPING\r\n'); });
    s.on('close', () => {
      live.delete(s);
      dropped++;
      // setImmediate: a refused connect must not recurse on the stack.
      setImmediate(open);
    });
    if (!announced && live.size >= o.concurrency) { announced = true; process.send?.({ type: 'started' }); }
  };
  for (let i = 0; i < o.concurrency; i++) open();
  setTimeout(finish, o.durationMs).unref();
  setInterval(() => { if (attempts >= o.maxAttempts && live.size === 0) finish(); }, 50);
  process.on('message', (m: { type?: string }) => { if (m?.type === 'stop') finish(); });
  // The test died: so does its attacker.
  process.on('disconnect', finish);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) runFlood(JSON.parse(process.argv[2] ?? '{}') as FloodOptions);
