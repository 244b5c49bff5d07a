// sd_notify for the image: READY=1 once the appliance is up, WATCHDOG=1 while the supervisor's loop and bus are alive.
import { spawn } from 'node:child_process';

/**
 * Node has no AF_UNIX datagram sockets, so the datagram to NOTIFY_SOCKET is sent by systemd's own `systemd-notify`
 * (the unit sets NotifyAccess=all: the sender is that helper in the unit, not the main pid; since systemd 246 it waits
 * for the manager to take the message, BARRIER=1, so its short life does not lose it). Without NOTIFY_SOCKET (not
 * under systemd) every call is a no-op. A failed send is reported to the caller, never thrown.
 */
export function sdNotify(state: Record<string, string>, env: NodeJS.ProcessEnv = process.env, bin = 'systemd-notify'): Promise<boolean> {
  const socket = env.NOTIFY_SOCKET;
  if (!socket) return Promise.resolve(false);
  const args = Object.entries(state).map(([k, v]) => `${k}=${v.replace(/\n/g, ' ')}`);
  return new Promise((resolve) => {
    const child = spawn(bin, args, { env: { PATH: env.PATH ?? '/usr/bin:/bin', NOTIFY_SOCKET: socket }, stdio: 'ignore' });
    child.once('error', () => resolve(false));
    child.once('exit', (code) => resolve(code === 0));
  });
}

/** WatchdogSec from systemd (WATCHDOG_USEC, for this pid), or 0 when the unit has no watchdog. */
export function watchdogMs(env: NodeJS.ProcessEnv = process.env, pid = process.pid): number {
  const usec = Number(env.WATCHDOG_USEC ?? 0);
  if (!Number.isFinite(usec) || usec <= 0) return 0;
  if (env.WATCHDOG_PID && Number(env.WATCHDOG_PID) !== pid) return 0;
  return Math.floor(usec / 1000);
}

/**
 * Pets systemd's watchdog four times a period, only while `alive()` holds (the bus answers its pings): a supervisor
 * whose event loop is stuck, or whose bus stays hung, stops petting and systemd restarts the whole unit.
 */
export function startWatchdog(alive: () => boolean, env: NodeJS.ProcessEnv = process.env): () => void {
  const ms = watchdogMs(env);
  if (!ms) return () => {};
  const timer = setInterval(() => { if (alive()) void sdNotify({ WATCHDOG: '1' }, env); }, Math.max(500, Math.floor(ms / 4)));
  timer.unref();
  return () => clearInterval(timer);
}
