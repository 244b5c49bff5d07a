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
import { standardOp } from '../../bus/op-ref.js';
import { ALL_STATES } from '../../bus/subjects.js';
import { parseStateMessage } from '../../bus/state-message.js';
import { allowedCallers } from '../../bus/acl.js';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import { homePaths, projectRoot, type HomePaths } from '../../common/paths.js';
import { DEFAULT_BACKOFF, nextDelay, type BackoffPolicy } from './backoff.js';
import { SlotRunner, type SlotEventName } from './slot-runner.js';
import { supervisionChart } from '../../machines/supervisor/slot.machine.js';
import { describeMachine } from '../../runtime/describe-machine.js';
import { faultSettings, type FaultSettings } from '../../common/fault-settings.js';
import { stateSubject } from '../../bus/subjects.js';
import { BusHeartbeat } from './bus-heartbeat.js';
import { StorageWatch } from './storage-watch.js';
import { sdNotify, startWatchdog } from './sd-notify.js';
import { jetstreamManager } from '@nats-io/jetstream';
import { AUDIT_STREAMS } from '../../bus/subjects.js';
import { outboxFor } from '../../bus/outbox.js';
import { ViolationReporter } from '../../bus/nats-violations.js';
import { ensureAuditStreams, prepareBus } from '../../runtime/bus-setup.js';
import { secureHome } from './secure-home.js';
import { supervisorManifest } from './manifest.js';
import { issueSetupCode } from '../../common/setup-code.js';
import { UnpublishedEvents } from '../../common/published-or-logged.js';

export interface SupervisorOptions {
  home: string;
  configDir: string;
  manifests: readonly ActorManifest[];
  headless: boolean;
  log: Logger;
  backoff?: BackoffPolicy;
  readyTimeoutMs?: number;
  version?: string;
  /** Heartbeat and storage settings (default: from the environment, common/fault-settings.ts). */
  faults?: FaultSettings;
}

interface ActorSlot {
  manifest: ActorManifest;
  runner: SlotRunner;
  state: { value: unknown; status: string; event: string } | undefined;
  /** Events the actor failed to publish, as it last reported over IPC (kept across its restarts: a sum). */
  unpublishedEvents: number;
  /** The part of `unpublishedEvents` from the actor's earlier runs. */
  unpublishedBefore: number;
}

/**
 * Every this many heartbeats (30 s by default) each actor is pinged over the bus (over IPC while the bus is down):
 * one wakeup of the actor proves its loop and its connection. Between pings, the kernel's view (SIGCHLD, then /proc)
 * catches a stopped process within the miss limit; a loop that hangs while its process looks runnable is caught
 * within PING_EVERY + misses beats. Each ping costs every actor a wakeup: at 10 beats the heartbeat cost 0.8 % of a
 * core on the 2-core test machine, at 30 beats 0.2 % (bench:faults, target < 0.5 %).
 */
const PING_EVERY = 30;

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
  /** Off while the disk is full (`setJetStream`): nats-server then runs from nats-nojs.conf. */
  private jetStreamOn = true;
  /** Why the supervisor itself stopped nats-server (restarted at once, not counted as a crash). */
  private plannedRestart: string | undefined;
  private natsPort = 0;
  private bus?: BusClient;
  private ids = new Map<string, Identity>();
  private stopping = false;
  private started = Date.now();
  /** The one-time first-run setup code, while no vault exists (`secai up` prints it). */
  setupCode: string | undefined;
  private unserve?: () => void;
  private readonly faults: FaultSettings;
  private busBeat?: BusHeartbeat;
  private storage?: StorageWatch;
  private stopWatchdog?: () => void;
  private beatTimer?: NodeJS.Timeout;
  private stateSeq = 0;
  /** The supervisor's own events that could not be published (lifecycle, appliance_stopping). */
  private readonly unpublished: UnpublishedEvents;
  /** nats-server's permission violations, read from its log and reported per identity+subject once per window. */
  private readonly violations: ViolationReporter;

  constructor(private readonly o: SupervisorOptions) {
    this.paths = homePaths(o.home);
    this.faults = o.faults ?? faultSettings();
    this.unpublished = new UnpublishedEvents(o.log);
    this.violations = new ViolationReporter({
      identityOf: (nkey) => [...this.ids.values()].find((id) => id.publicKey === nkey)?.name,
      report: (r) => this.report('permission_violation', r),
    });
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
      operators: new TrustedOperators(this.paths.trustedOperators), unpublished: this.unpublished,
      ops: {
        status: () => this.status(),
        health: () => this.health(),
        describe: async () => ({ actor: 'supervisor', ...(await describeMachine(supervisionChart([...this.slots.keys()]))) }),
        snapshot: () => this.snapshot(),
      },
      commands: { status: () => this.status() },
    });
    this.busBeat = new BusHeartbeat({
      bus: this.bus, intervalMs: this.faults.heartbeatMs, misses: this.faults.heartbeatMisses, log: this.o.log,
      pid: () => this.nats?.pid ?? 0,
      // A hung server holds every connection open and answers nothing: kill it; the exit handler restarts it.
      onUnresponsive: (missed) => {
        const pid = this.nats?.pid ?? 0;
        this.o.log.error({ pid, missed }, 'nats-server unresponsive; killing it');
        this.report('actor_unresponsive', { name: 'nats-server', pid, restarts: this.natsRestarts, reason: `unresponsive: ${missed} pings unanswered` });
        this.nats?.child.kill('SIGKILL');
      },
    });

    this.storage = new StorageWatch({
      home: this.paths.home, minFreeMb: this.faults.minFreeMb, intervalMs: this.faults.storageCheckMs, log: this.o.log,
      onChange: (state, info) => {
        this.report(state === 'ok' ? 'storage_recovered' : 'storage_degraded', info);
        if (state !== 'ok') this.setJetStream(false, 'storage degraded: JetStream off until space returns');
        else if (!this.jetStreamOn) this.setJetStream(true, 'storage recovered: JetStream on again');
        else void this.reviveJetStream();
      },
    });
    this.storage.start();

    const actors = this.o.manifests.filter((m) => m.kind === 'actor');
    await Promise.all(actors.map((m) => {
      const slot: ActorSlot = { manifest: m, runner: this.slotRunner(m), state: undefined, unpublishedEvents: 0, unpublishedBefore: 0 };
      this.slots.set(m.name, slot);
      return slot.runner.start();
    }));
    // One timer beats every slot and pings the bus: one wakeup per interval for the whole supervisor.
    if (this.faults.heartbeatMs > 0) {
      let beats = 0;
      this.beatTimer = setInterval(() => {
        const pingDue = ++beats % PING_EVERY === 0;
        this.busBeat?.beat(pingDue);
        for (const s of this.slots.values()) s.runner.beat(pingDue);
      }, this.faults.heartbeatMs);
      this.beatTimer.unref();
    }
    // Under systemd (Type=notify, WatchdogSec): ready now, and petted while the bus answers.
    void sdNotify({ READY: '1', STATUS: `${actors.length} actors ready` });
    this.stopWatchdog = startWatchdog(() => this.busBeat?.responsive !== false);
    const startMs = Date.now() - this.started;
    await this.bus.publishEvent('supervisor', 'appliance_ready', { actors: actors.length, startMs, pid: process.pid });
    return { startMs };
  }

  status() {
    return {
      appliance: {
        pid: process.pid, uptimeMs: Date.now() - this.started, home: this.paths.home, headless: this.o.headless,
        version: this.o.version ?? '0.0.0',
        bus: { url: this.url, pid: this.nats?.pid ?? 0, restarts: this.natsRestarts, responsive: this.busBeat?.responsive ?? true },
        unpublishedEvents: this.unpublished.count,
      },
      health: this.health(),
      actors: [...this.slots.values()].map((s) => {
        const snap = s.runner.snapshot;
        const ready = snap.value === 'ready';
        return {
          name: s.manifest.name,
          pid: s.runner.pid,
          running: s.runner.running,
          ready,
          restarts: snap.context.restarts,
          uptimeMs: ready ? Date.now() - snap.context.startedAt : 0,
          state: s.state?.value ?? null,
          status: s.state?.status ?? 'unknown',
          lastEvent: s.state?.event ?? '',
          unpublishedEvents: s.unpublishedEvents,
          slot: String(snap.value),
          reason: snap.context.lastReason.slice(0, 256),
        };
      }),
    };
  }

  /** The aggregate: every slot must be usable and the bus must answer its pings. */
  health() {
    const reasons: string[] = [];
    for (const [name, s] of this.slots) {
      if (!s.runner.healthy) reasons.push(`actor ${name} is ${s.runner.state}${s.runner.snapshot.context.lastReason ? ` (${s.runner.snapshot.context.lastReason})` : ''}`.slice(0, 256));
    }
    if (this.busBeat && !this.busBeat.responsive) reasons.push('the bus (nats-server) is not answering pings');
    if (!this.jetStreamOn) reasons.push('JetStream is off while storage is low: events wait in memory (ordered outboxes) and reach the audit chain when space returns');
    const storage = { state: this.storage?.state ?? 'ok', freeMb: this.storage?.freeMb ?? 0, minFreeMb: this.faults.minFreeMb };
    if (storage.state === 'degraded_storage') reasons.push(`storage: ${storage.freeMb} MiB free under SECAI_HOME, below the ${storage.minFreeMb} MiB minimum (imports refused)`);
    const state = storage.state === 'degraded_storage' ? 'degraded_storage' as const : reasons.length ? 'degraded' as const : 'ok' as const;
    return { ok: reasons.length === 0, state, reasons, storage };
  }

  /**
   * After a full disk nats-server may have turned JetStream off (it does on a store write error) and keeps it off:
   * ask it, and restart the server if it does not answer; the streams are on disk, acknowledged messages are kept.
   */
  private async reviveJetStream(): Promise<void> {
    if (!this.bus || this.stopping) return;
    try {
      const jsm = await jetstreamManager(this.bus.nc, { timeout: 2000 });
      await jsm.getAccountInfo();
      for (const st of Object.values(AUDIT_STREAMS)) await jsm.streams.info(st.name);
    } catch (err) {
      this.o.log.error({ err: (err as Error).message }, 'JetStream does not answer after storage returned: restarting nats-server');
      this.restartNatsNow('JetStream did not answer after storage returned');
    }
  }

  /**
   * Runs nats-server with or without JetStream. While the disk is full it runs without: nats-server 2.9.10 deadlocks in
   * its file store when a JetStream write fails with ENOSPC (`writeMsgRecord` → `rebuildStateLocked` takes the lock its
   * caller holds), and every connection that publishes a recorded subject stalls with it, so lock and panic could not
   * answer. Without JetStream those publishes fail at once and the events wait, in order, in each process's outbox.
   */
  private setJetStream(on: boolean, reason: string): void {
    if (this.jetStreamOn === on || this.stopping) return;
    this.jetStreamOn = on;
    this.o.log.warn({ jetstream: on }, `${reason}: restarting nats-server`);
    this.restartNatsNow(reason);
  }

  /**
   * Kills nats-server for a restart the supervisor chose: the exit handler starts it again at once, not counted as a
   * crash. SIGKILL: a server wedged in its file store does not finish a graceful stop, and nothing acknowledged is lost
   * (it is in the store's files before the ack). Between an exit and its restart there is no server to stop: the
   * pending restart reads the current settings.
   */
  private restartNatsNow(reason: string): void {
    const child = this.nats?.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    this.plannedRestart = reason;
    child.kill('SIGKILL');
  }

  /** The supervision chart's live state: `{ <actor>: <slot state> }`. */
  private snapshot() {
    const value = Object.fromEntries([...this.slots].map(([n, s]) => [n, s.runner.state]));
    return { actor: 'supervisor', value, status: 'active', event: 'slot.changed', seq: this.stateSeq, at: Date.now() };
  }

  private publishState(): void {
    this.stateSeq++;
    if (this.bus && !this.bus.nc.isClosed()) this.bus.publish(stateSubject('supervisor'), this.snapshot());
  }

  /** Lifecycle facts go to the audit chain through the ordered outbox: the supervisor never waits on them, and a full disk delays them, never drops them. */
  private report(event: SlotEventName | 'bus_restarted' | 'storage_degraded' | 'storage_recovered' | 'permission_violation', payload: unknown): void {
    if (this.bus) void outboxFor(this.bus, this.o.log, this.unpublished).push('supervisor', event, payload);
  }

  async stop(reason = 'stop requested'): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.o.log.info({ reason }, 'stopping appliance');
    if (this.bus) await this.unpublished.settle('appliance_stopping', this.bus.publishEvent('supervisor', 'appliance_stopping', { reason }));
    clearInterval(this.beatTimer);
    this.busBeat?.close();
    this.storage?.stop();
    this.violations.close();
    this.stopWatchdog?.();
    void sdNotify({ STOPPING: '1' });
    await Promise.all([...this.slots.values()].map((s) => s.runner.stop(5000)));
    this.unserve?.();
    await this.bus?.close().catch((err: unknown) => this.o.log.warn({ err: (err as Error).message }, 'closing the bus connection failed'));
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
      if (cmd.includes(this.paths.busConfig) || cmd.includes(this.paths.busConfigNoJetStream)) process.kill(pid, 'SIGKILL');
    }
    mkdirSync(this.paths.run, { recursive: true, mode: 0o700 });
    prepareRunDir(this.paths);
    // Before any actor starts: from the first moment auth serves setup, a pending setup needs this code.
    this.setupCode = issueSetupCode(this.paths.run, existsSync(join(this.paths.vault, 'vault.json')));
    writeFileSync(pidFile, String(process.pid), { mode: 0o600 });
  }

  private async startNats(): Promise<void> {
    this.nats = await startNatsServer({
      configPath: this.jetStreamOn ? this.paths.busConfig : this.paths.busConfigNoJetStream, portsDir: this.paths.run, logFile: join(this.paths.bus, 'nats.log'),
      onViolation: (v) => this.violations.note(v),
    });
    this.natsStartedAt = Date.now();
    writeFileSync(join(this.paths.run, 'nats.pid'), String(this.nats.pid), { mode: 0o600 });
    this.nats.child.once('exit', (code, sig) => {
      if (this.stopping) return;
      this.busBeat?.pause();
      const planned = this.plannedRestart;
      this.plannedRestart = undefined;
      if (planned) {
        setImmediate(() => void this.restartNats(planned));
        return;
      }
      const b = nextDelay(this.o.backoff ?? DEFAULT_BACKOFF, this.natsStreak, Date.now() - this.natsStartedAt);
      this.natsStreak = b.streak;
      this.o.log.error({ code, sig, delayMs: b.delayMs }, 'nats-server died; restarting');
      setTimeout(() => void this.restartNats(), b.delayMs);
    });
  }

  private async restartNats(reason = 'exited'): Promise<void> {
    if (this.stopping) return;
    try {
      await this.startNats();
      this.natsRestarts++;
      this.busBeat?.resume();
      this.o.log.info({ pid: this.nats?.pid, restarts: this.natsRestarts, jetstream: this.jetStreamOn }, 'nats-server restarted');
      // Through the outbox: without JetStream (a full disk) the record waits there, in order, like every other.
      this.report('bus_restarted', { name: 'nats-server', pid: this.nats?.pid ?? 0, restarts: this.natsRestarts, reason: reason.slice(0, 256) });
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

  private slotRunner(m: ActorManifest): SlotRunner {
    return new SlotRunner({
      name: m.name,
      fork: () => this.forkActor(m),
      policy: this.o.backoff ?? DEFAULT_BACKOFF,
      readyTimeoutMs: this.o.readyTimeoutMs ?? 60_000,
      heartbeatMs: this.faults.heartbeatMs,
      heartbeatMisses: this.faults.heartbeatMisses,
      // The ACL lets the supervisor ask every actor's ping; a reply is awaited until the next due ping.
      bus: {
        ping: () => this.bus!.call(standardOp(m.name, 'ping'), {}, this.faults.heartbeatMs * PING_EVERY),
        healthy: () => !!this.bus && this.busBeat?.healthy === true,
      },
      log: this.o.log,
      report: (event, payload) => this.report(event, payload),
      onChange: () => {
        const slot = this.slots.get(m.name);
        // A new process publishes its machine's state afresh: the old one's is stale.
        if (slot && slot.runner.state === 'starting') slot.state = undefined;
        this.publishState();
      },
    });
  }

  private forkActor(m: ActorManifest): ChildProcess {
    const entry = join(codeRoot, fromSource ? m.entry!.replace(/\.js$/, '.ts') : m.entry!);
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (PASS_ENV.test(k)) env[k] = v;
    Object.assign(env, { SECAI_HOME: this.paths.home, SECAI_CONFIG: this.o.configDir, SECAI_BUS_URL: this.url, SECAI_ACTOR: m.name, SECAI_HEADLESS: this.o.headless ? '1' : '0' });
    const child = fork(entry, [], {
      env,
      execArgv: fromSource ? ['--import', 'tsx'] : [],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    // Events the actor could not publish, as it reports them over IPC: a sum across its restarts.
    const slot = this.slots.get(m.name);
    if (slot) slot.unpublishedBefore = slot.unpublishedEvents;
    child.on('message', (msg: { type?: string; count?: unknown }) => {
      if (slot && msg?.type === 'unpublished' && Number.isSafeInteger(msg.count) && (msg.count as number) >= 0) {
        slot.unpublishedEvents = slot.unpublishedBefore + (msg.count as number);
      }
    });
    return child;
  }
}

function prepareRunDir(paths: HomePaths): void {
  for (const f of ['secai.pid', 'nats.pid', 'http.url']) rmSync(join(paths.run, f), { force: true });
}
