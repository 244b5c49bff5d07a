// What the appliance runs, hashed: the built code it starts actors from and the native binaries it loads.
import { existsSync, readdirSync, statSync, type Dirent } from 'node:fs';
import { delimiter, join, relative, resolve } from 'node:path';
import { fileHasher } from '../../common/hash-file.js';

/** The folders of the code root that hold code (dist/ when built; the checkout when run from sources). */
const CODE_DIRS = ['actors', 'bin', 'bus', 'common', 'contracts', 'machines', 'policy', 'runtime', 'workers', 'ui'] as const;
const CODE_EXT = /\.(js|mjs|cjs|ts|json|html|css)$/;

function walk(dir: string, keep: (name: string) => boolean, out: string[]): void {
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (e.name.startsWith('.') || e.name === 'node_modules') continue;
    const p = join(dir, e.name);
    // Symbolic links are not followed: a link would let the measured tree point outside itself.
    if (e.isDirectory()) walk(p, keep, out);
    else if (e.isFile() && keep(e.name)) out.push(p);
  }
}

/** The code files under `codeRoot`, keyed `code:<relative path>`. */
export function codeFiles(codeRoot: string): Map<string, string> {
  const files: string[] = [];
  for (const d of CODE_DIRS) walk(join(codeRoot, d), (n) => CODE_EXT.test(n), files);
  return new Map(files.map((f) => [`code:${relative(codeRoot, f)}`, f]));
}

/** An executable named as on a command line, found on PATH the way spawn finds it. */
export function onPath(exe: string, path = process.env.PATH ?? ''): string | undefined {
  if (exe.includes('/')) return existsSync(exe) ? resolve(exe) : undefined;
  for (const dir of path.split(delimiter)) {
    const p = join(dir, exe);
    try {
      if (statSync(p).isFile()) return p;
    } catch { /* lint-ok: not in this folder; the next one is tried */ }
  }
  return undefined;
}

/**
 * The native binaries: the nats-server the supervisor runs, node-llama-cpp's addons for this platform (and the CPU
 * backend's shared libraries, which are what a worker loads here), onnxruntime's binding and library, msgpackr's addon.
 */
export function nativeFiles(o: { nodeModules: string; natsServer: string; platform?: string; arch?: string }): Map<string, string> {
  const platform = o.platform ?? process.platform;
  const arch = o.arch ?? process.arch;
  const out = new Map<string, string>();
  const nats = onPath(o.natsServer);
  if (nats) out.set('native:nats-server', nats);
  const add = (dir: string, keep: (n: string) => boolean) => {
    const files: string[] = [];
    walk(dir, keep, files);
    for (const f of files) out.set(`native:${relative(o.nodeModules, f)}`, f);
  };
  const llama = join(o.nodeModules, '@node-llama-cpp');
  for (const pkg of existsSync(llama) ? readdirSync(llama).sort() : []) {
    if (!pkg.startsWith(`${platform}-${arch}`)) continue;
    const cpu = pkg === `${platform}-${arch}`;
    add(join(llama, pkg, 'bins'), (n) => n.endsWith('.node') || (cpu && /\.so(\.[0-9.]+)?$/.test(n)));
  }
  add(join(o.nodeModules, 'onnxruntime-node', 'bin', 'napi-v6', platform, arch), (n) => n.endsWith('.node') || /\.so(\.[0-9.]+)?$/.test(n));
  add(join(o.nodeModules, '@msgpackr-extract', `msgpackr-extract-${platform}-${arch}`), (n) => n.endsWith('.node'));
  return out;
}

/** name → SHA-256 of every file, hashed one after another (a measurement must not starve the other actors of a 2-core machine). */
export async function digestAll(files: Map<string, string>): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const hash = fileHasher();
  for (const [name, path] of [...files].sort(([a], [b]) => (a < b ? -1 : 1))) {
    try {
      out[name] = (await hash(path)).sha256;
    } catch {
      // A file that vanished between the listing and the read is measured as such: a difference, not a crash.
      out[name] = 'unreadable';
    }
  }
  return out;
}
