// What the integrity monitor watches: the appliance's code, the native binaries it runs, config, the registry and trust material.
import { existsSync, readdirSync, realpathSync } from 'node:fs';
import { delimiter, join, sep } from 'node:path';
import type { EntryKind } from '../../machines/integrity/integrity.machine.js';
import type { HomePaths } from '../../common/paths.js';

/** A watched file or folder; `kindOf` names what a file under it is. */
export interface Root {
  path: string;
  dir: boolean;
  recursive: boolean;
  kindOf: (file: string) => EntryKind;
  /** Which files of a folder count (default: all). */
  accept?: (name: string) => boolean;
}

export interface Targets {
  roots: Root[];
  registry: string;
  registryManifest: string;
  /** The registry's signed suspension record beside its manifest (registry/suspended.json). */
  registrySuspensions: string;
  operators: string;
  policyFile: string;
}

/** An executable on PATH, as the supervisor's spawn would find it. */
function onPath(bin: string, pathVar: string | undefined): string | null {
  if (bin.includes('/')) return existsSync(bin) ? bin : null;
  for (const d of (pathVar ?? '').split(delimiter)) if (d && existsSync(join(d, bin))) return join(d, bin);
  return null;
}

const real = (p: string) => { try { return realpathSync(p); } catch { return null; } }; // lint-ok: absent is an answer
const nativeFile = (name: string) => name.endsWith('.node') || /\.so(\.|$)/.test(name);

/**
 * The native code this process tree loads: node itself, nats-server (the supervisor runs it), the llama.cpp
 * builds of this platform (CPU, and the CUDA and Vulkan ones node-llama-cpp picks when a GPU is there),
 * onnxruntime and msgpackr's addon. Only folders that exist are listed.
 */
export function nativeRoots(projectRoot: string, natsServer: string, pathVar: string | undefined): Root[] {
  const code = (): EntryKind => 'code';
  const roots: Root[] = [];
  for (const f of [process.execPath, onPath(natsServer, pathVar)]) {
    const r = f && real(f);
    if (r) roots.push({ path: r, dir: false, recursive: false, kindOf: code });
  }
  const nm = real(join(projectRoot, 'node_modules'));
  if (!nm) return roots;
  const plat = `${process.platform}-${process.arch}`;
  const dirs: string[] = [];
  const llama = join(nm, '@node-llama-cpp');
  if (existsSync(llama)) for (const d of readdirSync(llama).sort()) if (d === plat || d.startsWith(`${plat}-`)) dirs.push(join(llama, d));
  const ort = join(nm, 'onnxruntime-node', 'bin');
  if (existsSync(ort)) for (const napi of readdirSync(ort).sort()) dirs.push(join(ort, napi, process.platform, process.arch));
  dirs.push(join(nm, '@msgpackr-extract', `msgpackr-extract-${plat}`));
  for (const d of dirs) {
    const r = real(d);
    if (r) roots.push({ path: r, dir: true, recursive: true, kindOf: code, accept: nativeFile });
  }
  return roots;
}

export function targets(o: { paths: HomePaths; configDir: string; projectRoot: string; natsServer: string; pathVar: string | undefined }): Targets {
  const registry = o.paths.registry;
  const registryManifest = join(registry, 'manifest.json');
  const registrySuspensions = join(registry, 'suspended.json');
  const policyFile = join(o.configDir, 'policy.yaml');
  const roots: Root[] = [
    { path: join(o.projectRoot, 'dist'), dir: true, recursive: true, kindOf: () => 'code' },
    ...nativeRoots(o.projectRoot, o.natsServer, o.pathVar),
    // Config: the files at the top of SECAI_CONFIG (in a checkout that is policy/, whose TypeScript is code, not config).
    { path: o.configDir, dir: true, recursive: false, kindOf: (f) => (f === policyFile ? 'policy' : 'config'), accept: (n) => !/\.(ts|js|map)$/.test(n) },
    { path: registry, dir: true, recursive: true, kindOf: (f) => (f === registryManifest || f === registrySuspensions ? 'registry_manifest' : 'model') },
    { path: o.paths.trustedOperators, dir: true, recursive: true, kindOf: () => 'trust' },
    { path: o.paths.applianceKey, dir: false, recursive: false, kindOf: () => 'trust' },
  ];
  return { roots, registry, registryManifest, registrySuspensions, operators: o.paths.trustedOperators, policyFile };
}

/** The root a path belongs to (a file inside a folder root, or a file root itself), if any. */
export function rootOf(roots: readonly Root[], path: string): Root | undefined {
  return roots.find((r) => {
    if (!r.dir) return r.path === path;
    if (!path.startsWith(r.path + sep)) return false;
    return r.recursive || !path.slice(r.path.length + 1).includes(sep);
  });
}
