// Starts worker processes under bubblewrap: no network (own netns, lo only), read-only binds of what they need, no home, clean env.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, lstatSync, readlinkSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCode, SecaiError } from '../common/errors.js';
import { processTree } from '../common/proc-tree.js';
import { projectRoot } from '../common/paths.js';

export interface SandboxOptions {
  /** The worker script (absolute). Defaults to the llm worker of this build. */
  entry?: string;
  args?: readonly string[];
  /** Extra read-only binds (the one model file). */
  readOnly?: readonly string[];
  /** Policy `inference.allow_unsandboxed`: run without bubblewrap when it cannot create namespaces. */
  allowUnsandboxed?: boolean;
  /** Bind the NVIDIA/DRI device nodes so GPU auto-detect can find them (default: when they exist). */
  gpuDevices?: boolean;
  /** The device nodes to look for (default GPU_DEVICE_NODES; tests name one they create). */
  gpuDeviceNodes?: readonly string[];
  /** The bubblewrap binary (tests point it at nothing to prove fail-closed). */
  bwrapPath?: string;
}

export interface SandboxedWorker {
  child: ChildProcess;
  sandboxed: boolean;
  /** The bwrap (or node) command line, for status and evidence. */
  argv: string[];
}

const here = fileURLToPath(import.meta.url);
/** Running from TypeScript sources (tests, tsx) or from dist/. */
const fromSource = here.endsWith('.ts');
const codeRoot = fromSource ? projectRoot : join(projectRoot, 'dist');
const ext = fromSource ? 'ts' : 'js';

export const LLM_WORKER_ENTRY = join(codeRoot, 'workers', 'llm', `main.${ext}`);
export const DIFFUSION_WORKER_ENTRY = join(codeRoot, 'workers', 'diffusion', `main.${ext}`);

/** The Node flags a worker needs: the TypeScript loader when running from sources. */
const execArgv = fromSource ? ['--import', 'tsx'] : [];

/** The namespaces and hardening every worker gets; the probe uses exactly these. */
const NAMESPACE_FLAGS = ['--unshare-all', '--die-with-parent', '--new-session', '--cap-drop', 'ALL'];

const probes = new Map<string, { ok: boolean; reason: string }>();

/** Whether bubblewrap can create the worker namespaces here (cached per binary). */
export function probeSandbox(bwrap = 'bwrap'): { ok: boolean; reason: string } {
  const cached = probes.get(bwrap);
  if (cached) return cached;
  const r = spawnSync(bwrap, [...NAMESPACE_FLAGS, '--ro-bind', '/', '/', '--proc', '/proc', '--dev', '/dev', 'true'], { timeout: 10_000, encoding: 'utf8' });
  const result = r.error ? { ok: false, reason: `${bwrap}: ${r.error.message}` }
    : r.status === 0 ? { ok: true, reason: 'bubblewrap namespaces available' }
      : { ok: false, reason: `${bwrap} exited ${r.status}: ${String(r.stderr).trim().slice(0, 300)}` };
  probes.set(bwrap, result);
  return result;
}

/** System library folders node needs; merged-/usr symlinks are recreated as symlinks. */
function systemBinds(): string[] {
  const a: string[] = [];
  for (const d of ['/usr/lib', '/usr/lib64']) if (existsSync(d)) a.push('--ro-bind', d, d);
  for (const d of ['/lib', '/lib64']) {
    if (!existsSync(d)) continue;
    if (lstatSync(d).isSymbolicLink()) a.push('--symlink', readlinkSync(d), d);
    else a.push('--ro-bind', d, d);
  }
  return a;
}

/** The GPU device nodes llama.cpp's CUDA and Vulkan backends open. */
export const GPU_DEVICE_NODES = ['/dev/nvidiactl', '/dev/nvidia-uvm', '/dev/nvidia-uvm-tools', '/dev/nvidia0', '/dev/nvidia1', '/dev/dri'] as const;

/** The GPU device nodes present on this host. */
export function gpuDeviceNodes(nodes: readonly string[] = GPU_DEVICE_NODES): string[] {
  return nodes.filter((d) => existsSync(d));
}

/**
 * Binds of the GPU device nodes. They must come AFTER `--dev /dev`: bubblewrap mounts a fresh devtmpfs
 * there, which hides any device bound before it (the worker then silently ran on the CPU).
 */
function gpuBinds(nodes: readonly string[] = GPU_DEVICE_NODES): string[] {
  const a: string[] = [];
  for (const d of gpuDeviceNodes(nodes)) a.push('--dev-bind', d, d);
  // The driver's own libraries live in /usr/lib (bound above); the CUDA runtime comes with node-llama-cpp's prebuilt.
  if (a.length && existsSync('/sys')) a.push('--ro-bind', '/sys', '/sys');
  return a;
}

/** Read-only binds of the worker code: node, the worker and common modules, and node_modules. */
function codeBinds(entry: string): string[] {
  const node = realpathSync(process.execPath);
  const paths = [
    node,
    join(projectRoot, 'package.json'),
    join(projectRoot, 'node_modules'),
    join(codeRoot, 'workers'),
    join(codeRoot, 'common'),
    ...(fromSource ? [join(projectRoot, 'tsconfig.json')] : []),
  ];
  if (!paths.some((p) => entry.startsWith(p + '/'))) paths.push(entry);
  return paths.filter((p) => existsSync(p)).flatMap((p) => ['--ro-bind', p, p]);
}

/**
 * Kills a worker and everything its sandbox started. bubblewrap's --die-with-parent is not in force in the first
 * moments after spawn (the parent-death signal is set, and cleared again by its credential changes, while it builds
 * the sandbox): a kill then reached the outer bwrap alone, and the inner one lived on, parentless, with the worker in
 * it (15 of 40 such kills here). So the inner processes are killed by name too: those the outer bwrap has started
 * (listed before anything is killed; killing the inner one, the sandbox's pid 1, ends its whole pid namespace), and its
 * process group, which a worker leads and which holds an inner process started since, until it calls --new-session.
 * The outer bwrap cannot start another once the group's SIGKILL has reached it.
 */
export function killWorker(w: SandboxedWorker, signal: NodeJS.Signals = 'SIGKILL'): void {
  const pid = w.child.pid;
  if (pid === undefined) return; // never started: nothing to kill
  const tree = processTree(pid);
  try {
    process.kill(-pid, signal);
  } catch {
    w.child.kill(signal); // lint-ok: the group is gone already; this reaches the child itself if it is not
  }
  for (const p of tree.slice(1)) {
    try { process.kill(p, signal); } catch { /* lint-ok: it exited with the group */ }
  }
}

/**
 * Spawns a worker with a Node IPC channel on fd 3, leading its own process group (see killWorker). Fails closed with
 * SANDBOX_UNAVAILABLE when bubblewrap cannot create namespaces, unless the unsandboxed development mode is explicitly
 * allowed.
 */
export function spawnWorker(o: SandboxOptions = {}): SandboxedWorker {
  const entry = o.entry ?? LLM_WORKER_ENTRY;
  const bwrap = o.bwrapPath ?? 'bwrap';
  const node = realpathSync(process.execPath);
  const nodeArgs = [...execArgv, entry, ...(o.args ?? [])];
  const stdio: ['ignore', 'pipe', 'pipe', 'ipc'] = ['ignore', 'pipe', 'pipe', 'ipc'];
  const env = { PATH: '/usr/bin:/bin', HOME: '/tmp', LANG: 'C.UTF-8', NODE_CHANNEL_SERIALIZATION_MODE: 'json' };

  const probe = probeSandbox(bwrap);
  if (!probe.ok) {
    if (!o.allowUnsandboxed) {
      throw new SecaiError(ErrorCode.SANDBOX_UNAVAILABLE, `refusing to start a worker without its sandbox (${probe.reason}); policy inference.allow_unsandboxed is false`);
    }
    const child = spawn(node, nodeArgs, { stdio, env, cwd: projectRoot, serialization: 'json', detached: true });
    return { child, sandboxed: false, argv: [node, ...nodeArgs] };
  }

  const argv = [
    ...NAMESPACE_FLAGS,
    '--clearenv',
    ...Object.entries(env).flatMap(([k, v]) => ['--setenv', k, v]),
    // Node's IPC channel is inherited as fd 3; the variable naming it was cleared with the rest.
    '--setenv', 'NODE_CHANNEL_FD', '3',
    // /tmp first: binds under it (a model file in a temp dir) must land on top of the tmpfs, not under it.
    '--tmpfs', '/tmp',
    ...systemBinds(),
    ...codeBinds(entry),
    ...(o.readOnly ?? []).flatMap((p) => ['--ro-bind', p, p]),
    '--proc', '/proc',
    '--dev', '/dev',
    ...((o.gpuDevices ?? true) ? gpuBinds(o.gpuDeviceNodes) : []),
    '--chdir', fromSource ? projectRoot : dirname(entry),
    node, ...nodeArgs,
  ];
  const child = spawn(bwrap, argv, { stdio, env: {}, serialization: 'json', detached: true });
  return { child, sandboxed: true, argv: [bwrap, ...argv] };
}

export interface SandboxCommand {
  /** Absolute path of the executable. */
  command: string;
  args?: readonly string[];
  /** Read-only binds besides the system folders (the program's code and data). */
  readOnly?: readonly string[];
  /** The whole environment besides PATH, HOME and LANG. */
  env?: Readonly<Record<string, string>>;
  bwrapPath?: string;
}

/**
 * The bubblewrap command line for an outside program (an MCP server over stdio): no network (its own netns with
 * only lo), read-only /usr and the binds named, a private /tmp, a clean environment. There is no unsandboxed
 * fallback: a program we did not write never runs without its sandbox.
 */
export function sandboxCommand(o: SandboxCommand): { command: string; args: string[] } {
  const bwrap = o.bwrapPath ?? 'bwrap';
  const probe = probeSandbox(bwrap);
  if (!probe.ok) throw new SecaiError(ErrorCode.SANDBOX_UNAVAILABLE, `refusing to start ${o.command} without its sandbox (${probe.reason})`);
  const command = realpathSync(o.command);
  const env = { PATH: '/usr/bin:/bin', HOME: '/tmp', LANG: 'C.UTF-8', ...o.env };
  const binds = [command, ...(o.readOnly ?? [])].filter((p) => !p.startsWith('/usr/') && existsSync(p));
  return {
    command: bwrap,
    args: [
      ...NAMESPACE_FLAGS,
      '--clearenv',
      ...Object.entries(env).flatMap(([k, v]) => ['--setenv', k, v]),
      '--tmpfs', '/tmp',
      '--ro-bind', '/usr', '/usr',
      // /lib and /lib64 (links on merged-/usr systems); binding /usr/lib again over /usr is harmless.
      ...systemBinds(),
      ...(existsSync('/bin') && lstatSync('/bin').isSymbolicLink() ? ['--symlink', readlinkSync('/bin'), '/bin'] : existsSync('/bin') ? ['--ro-bind', '/bin', '/bin'] : []),
      ...[...new Set(binds)].flatMap((p) => ['--ro-bind', p, p]),
      '--proc', '/proc',
      '--dev', '/dev',
      '--chdir', '/tmp',
      command, ...(o.args ?? []),
    ],
  };
}
