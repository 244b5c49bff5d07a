// The root supervisor: starts nats-server, then each actor as its own process; restarts the dead; stops all.
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BusClient } from '../../bus/client.js';
import type { Identity } from '../../bus/identities.js';
import type { ActorManifest } from '../../bus/manifest.js';
import { TrustedOperators } from '../../bus/operator-keys.js';
import { busPortFromEnv, pickLoopbackPort, startNatsServer, stopProcess, type NatsProcess } from '../../bus/server.js';
import { serveManifest } from '../../bus/service.js';
import { ALL_STATES } from '../../bus/subjects.js';
import { parseStateMessage } from '../../bus/state-message.js';
import { allowedCallers } from '../../bus/acl.js';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import { homePaths, projectRoot, type HomePaths } from '../../common/paths.js';
import { DEFAULT_BACKOFF, nextDelay, type BackoffPolicy } from './backoff.js';
import { ensureAuditStreams, prepareBus } from '../../runtime/bus-setup.js';
import { secureHome } from './secure-home.js';
import { supervisorManifest } from './manifest.js';
import { issueSetupCode } from '../../common/setup-code.js';

export interface SupervisorOptions {
  home: string;
  configDir: string;
  manifests: readonly ActorManifest[];
  headless: boolean;
  log: Logger;
  backoff?: BackoffPolicy;
  readyTimeoutMs?: number;
  version?: string;
}

interface ActorSlot {
  manifest: ActorManifest;
  child?: ChildProcess;
  ready: boolean;
  startedAt: number;
  restarts: number;
  streak: number;
  timer?: NodeJS.Timeout;
  state: { value: unknown; status: string; event: string } | undefined;
}

const fromSource = import.meta.url.endsWith('.ts');
/** The folder holding `actors/`: dist/ when built (and bundled), the checkout when run from source under tsx. */
const codeRoot = fromSource ? projectRoot : join(projectRoot, 'dist');

/** Variables an actor inherits; everything else in the supervisor's environment stays behind. */
const PASS_ENV = /^(PATH|LANG|LC_[A-Z]+|TZ|NODE_ENV|SECAI_[A-Z0-9_]+)$/;

export class Supervisor {
  readonly paths: HomePaths;
  private slots = new Map<string, ActorSlot>();
  private nats?: NatsProcess;
  private natsRestarts = 0;
  private natsStreak = 0;
  private natsStartedAt = 0;
  private natsPort = 0;
  private bus?: BusClient;
  private ids = new Map<string, Identity>();
  private stopping = false;
  private started = Date.now();
  /** The one-time first-run setup code, while no vault exists (`secai up` prints it). */
  setupCode: string | undefined;
  private unserve?: () => void;

  constructor(private readonly o: SupervisorOptions) {
    this.paths = homePaths(o.home);
  }

  get url(): string {
    return `nats://127.0.0.1:${this.natsPort}`;
  }

  async start(): Promise<{ startMs: number }> {
    this.started = Date.now();
    secureHome(this.paths);
    this.claimHome();
    this.natsPort = busPortFromEnv() ?? await pickLoopbackPort();
    this.ids = prepareBus(this.paths, this.o.manifests, this.natsPort);
    await this.startNats();
    writeFileSync(this.paths.busUrlFile, this.url + '\n', { mode: 0o600 });
    this.bus = await BusClient.connect({ url: this.url, identity: this.ids.get('supervisor')! });
    await ensureAuditStreams(this.bus.nc);
    this.watchStates();
    this.unserve = serveManifest({
      bus: this.bus, manifest: supervisorManifest, log: this.o.log, callers: allowedCallers(this.o.manifests),
      operators: new TrustedOperators(this.paths.trustedOperators),
      ops: { status: () => this.status() },
      commands: { status: () => this.status() },
    });

    const actors = this.o.manifests.filter((m) => m.kind === 'actor');
    await Promise.all(actors.map((m) => {
      const slot: ActorSlot = { manifest: m, ready: false, startedAt: 0, restarts: 0, streak: 0, state: undefined };
      this.slots.set(m.name, slot);
      return this.spawnActor(slot);
    }));
    const startMs = Date.now() - this.started;
    await this.bus.publishEvent('supervisor', 'appliance_ready', { actors: actors.length, startMs, pid: process.pid });
    return { startMs };
  }

  status() {
    return {
      appliance: {
        pid: process.pid, uptimeMs: Date.now() - this.started, home: this.paths.home, headless: this.o.headless,
        version: this.o.version ?? '0.0.0',
        bus: { url: this.url, pid: this.nats?.pid ?? 0, restarts: this.natsRestarts },
      },
      actors: [...this.slots.values()].map((s) => ({
        name: s.manifest.name,
        pid: s.child?.pid ?? 0,
        running: !!s.child && s.child.exitCode === null && s.child.signalCode === null,
        ready: s.ready,
        restarts: s.restarts,
        uptimeMs: s.ready ? Date.now() - s.startedAt : 0,
        state: s.state?.value ?? null,
        status: s.state?.status ?? 'unknown',
        lastEvent: s.state?.event ?? '',
      })),
    };
  }

  async stop(reason = 'stop requested'): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.o.log.info({ reason }, 'stopping appliance');
    await this.bus?.publishEvent('supervisor', 'appliance_stopping', { reason }).catch(() => {});
    for (const s of this.slots.values()) clearTimeout(s.timer);
    await Promise.all([...this.slots.values()].map((s) => (s.child ? stopProcess(s.child, 5000) : undefined)));
    this.unserve?.();
    await this.bus?.close().catch(() => {});
    if (this.nats) await stopProcess(this.nats.child, 5000);
    rmSync(join(this.paths.run, 'secai.pid'), { force: true });
    rmSync(join(this.paths.run, 'nats.pid'), { force: true });
  }

  /** One appliance per state directory; a stale nats-server from a killed supervisor is stopped. */
  private claimHome(): void {
    const pidFile = join(this.paths.run, 'secai.pid');
    const natsPidFile = join(this.paths.run, 'nats.pid');
    const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };
    if (existsSync(pidFile)) {
      const pid = Number(readFileSync(pidFile, 'utf8'));
      if (pid && pid !== process.pid && alive(pid)) throw new SecaiError(ErrorCode.INVALID_STATE, `an appliance (pid ${pid}) already runs with SECAI_HOME=${this.paths.home}`);
    }
    if (existsSync(natsPidFile)) {
      const pid = Number(readFileSync(natsPidFile, 'utf8'));
      const cmd = pid && alive(pid) ? readFileSync(`/proc/${pid}/cmdline`, 'utf8') : '';
      if (cmd.includes(this.paths.busConfig)) process.kill(pid, 'SIGKILL');
    }
    mkdirSync(this.paths.run, { recursive: true, mode: 0o700 });
    prepareRunDir(this.paths);
    // Before any actor starts: from the first moment auth serves setup, a pending setup needs this code.
    this.setupCode = issueSetupCode(this.paths.run, existsSync(join(this.paths.vault, 'vault.json')));
    writeFileSync(pidFile, String(process.pid), { mode: 0o600 });
  }

  private async startNats(): Promise<void> {
    this.nats = await startNatsServer({ configPath: this.paths.busConfig, portsDir: this.paths.run, logFile: join(this.paths.bus, 'nats.log') });
    this.natsStartedAt = Date.now();
    writeFileSync(join(this.paths.run, 'nats.pid'), String(this.nats.pid), { mode: 0o600 });
    this.nats.child.once('exit', (code, sig) => {
      if (this.stopping) return;
      const b = nextDelay(this.o.backoff ?? DEFAULT_BACKOFF, this.natsStreak, Date.now() - this.natsStartedAt);
      this.natsStreak = b.streak;
      this.o.log.error({ code, sig, delayMs: b.delayMs }, 'nats-server died; restarting');
      setTimeout(() => void this.restartNats(), b.delayMs);
    });
  }

  private async restartNats(): Promise<void> {
    if (this.stopping) return;
    try {
      await this.startNats();
      this.natsRestarts++;
      this.o.log.info({ pid: this.nats?.pid, restarts: this.natsRestarts }, 'nats-server restarted');
      await this.bus?.publishEvent('supervisor', 'bus_restarted', { name: 'nats-server', pid: this.nats?.pid ?? 0, restarts: this.natsRestarts, reason: 'exited' }).catch(() => {});
    } catch (err) {
      const b = nextDelay(this.o.backoff ?? DEFAULT_BACKOFF, this.natsStreak, 0);
      this.natsStreak = b.streak;
      this.o.log.error({ err: (err as Error).message, delayMs: b.delayMs }, 'nats-server restart failed');
      setTimeout(() => void this.restartNats(), b.delayMs);
    }
  }

  private watchStates(): void {
    this.bus!.subscribe(ALL_STATES, (m) => {
      // Believed only when well formed and on the subject of the actor it names (only it may publish there).
      let snap;
      try {
        snap = parseStateMessage(m.subject, m.data);
      } catch (err) {
        this.o.log.warn({ subject: m.subject, err: (err as Error).message }, 'ignored a malformed state message');
        return;
      }
      const slot = this.slots.get(snap.actor);
      if (slot) slot.state = { value: snap.value, status: snap.status, event: snap.event };
    });
  }

  private spawnActor(slot: ActorSlot): Promise<void> {
    const m = slot.manifest;
    const entry = join(codeRoot, fromSource ? m.entry!.replace(/\.js$/, '.ts') : m.entry!);
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (PASS_ENV.test(k)) env[k] = v;
    Object.assign(env, { SECAI_HOME: this.paths.home, SECAI_CONFIG: this.o.configDir, SECAI_BUS_URL: this.url, SECAI_ACTOR: m.name, SECAI_HEADLESS: this.o.headless ? '1' : '0' });
    const child = fork(entry, [], {
      env,
      execArgv: fromSource ? ['--import', 'tsx'] : [],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    slot.child = child;
    slot.ready = false;
    slot.startedAt = Date.now();
    slot.state = undefined;

    const ready = new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => {
        reject(new SecaiError(ErrorCode.NOT_READY, `${m.name} did not report ready within ${this.o.readyTimeoutMs ?? 60_000} ms`));
        child.kill('SIGKILL');
      }, this.o.readyTimeoutMs ?? 60_000);
      child.on('message', (msg: { type?: string }) => {
        if (msg?.type === 'ready') {
          clearTimeout(t);
          slot.ready = true;
          slot.startedAt = Date.now();
          this.o.log.info({ actor: m.name, pid: child.pid }, 'actor ready');
          void this.bus?.publishEvent('supervisor', 'actor_started', { name: m.name, pid: child.pid ?? 0, restarts: slot.restarts, reason: slot.restarts ? 'restarted' : 'started' }).catch(() => {});
          resolve();
        }
      });
      child.once('exit', (code, sig) => {
        clearTimeout(t);
        if (!slot.ready) reject(new SecaiError(ErrorCode.NOT_READY, `${m.name} exited (${code ?? sig}) before it was ready`));
      });
    });

    child.once('exit', (code, sig) => {
      const ranMs = Date.now() - slot.startedAt;
      slot.ready = false;
      if (this.stopping) return;
      const b = nextDelay(this.o.backoff ?? DEFAULT_BACKOFF, slot.streak, ranMs);
      slot.streak = b.streak;
      this.o.log.error({ actor: m.name, code, sig, delayMs: b.delayMs }, 'actor exited; restarting');
      void this.bus?.publishEvent('supervisor', 'actor_exited', { name: m.name, pid: child.pid ?? 0, restarts: slot.restarts, reason: `exit ${code ?? sig}` }).catch(() => {});
      slot.timer = setTimeout(() => {
        if (this.stopping) return;
        slot.restarts++;
        this.spawnActor(slot).catch((err: Error) => this.o.log.error({ actor: m.name, err: err.message }, 'restart failed'));
      }, b.delayMs);
    });
    return ready;
  }
}

function prepareRunDir(paths: HomePaths): void {
  for (const f of ['secai.pid', 'nats.pid', 'http.url']) rmSync(join(paths.run, f), { force: true });
}
