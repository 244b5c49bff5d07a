// Typed references to another actor's ops, taken from its manifest: the subject parts and the schema pair.
import type { ActorManifest, OpSpec } from './manifest.js';
import type { JsonSchema, Static } from './schema.js';
import { STANDARD_SERVES } from './standard-ops.js';

/**
 * One op as a caller sees it. `Req`/`Rep` are phantom: they exist for the type checker only, and come
 * from the same schemas the callee validates requests with and the client validates replies with.
 */
export interface OpRef<Req, Rep, Chunk = never> {
  readonly actor: string;
  readonly op: string;
  readonly kind: 'serve' | 'command';
  readonly request: JsonSchema;
  readonly reply: JsonSchema;
  /** Streaming ops: the schema of each chunk before the reply. */
  readonly chunk?: JsonSchema;
  readonly timeoutMs?: number;
  /** Never set: carries the static types. */
  readonly __types?: { req: Req; rep: Rep; chunk: Chunk };
}

type Ops = Record<string, OpSpec>;
type ChunkOf<S extends OpSpec> = S extends { chunk: infer C extends JsonSchema } ? Static<C> : never;
export type RefOf<S extends OpSpec> = OpRef<Static<S['request']>, Static<S['reply']>, ChunkOf<S>>;
export type RequestOf<R> = R extends OpRef<infer Req, unknown, unknown> ? Req : never;
export type ReplyOf<R> = R extends OpRef<unknown, infer Rep, unknown> ? Rep : never;

function ref(actor: string, op: string, kind: 'serve' | 'command', spec: OpSpec | undefined): OpRef<never, never, never> {
  // A typo is a compile error already; this guards the manifests built at run time.
  if (!spec) throw new Error(`${actor} has no ${kind === 'serve' ? 'op' : 'command'} '${op}'`);
  return {
    actor, op, kind, request: spec.request, reply: spec.reply,
    ...(spec.chunk && { chunk: spec.chunk }), ...(spec.timeoutMs !== undefined && { timeoutMs: spec.timeoutMs }),
  };
}

/** `secai.<actor>.<op>` of `manifest`, for BusClient.call / callStream. */
export function serveOp<M extends ActorManifest, K extends keyof M['serves'] & string>(manifest: M, op: K): RefOf<M['serves'][K]> {
  return ref(manifest.name, op, 'serve', (manifest.serves as Ops)[op]);
}

/** `secai.cmd.<actor>.<op>` of `manifest`, for BusClient.callCommand. */
export function commandOp<M extends ActorManifest, K extends keyof M['commands'] & string>(manifest: M, op: K): RefOf<M['commands'][K]> {
  return ref(manifest.name, op, 'command', (manifest.commands as Ops)[op]);
}

/** A standard op (ping, describe, snapshot) of any actor, named at run time (the visualizer, `securectl ping`). */
export function standardOp<K extends keyof typeof STANDARD_SERVES>(actor: string, op: K): RefOf<(typeof STANDARD_SERVES)[K]> {
  return ref(actor, op, 'serve', STANDARD_SERVES[op]);
}

/** The signed `ping` every actor answers. */
export function standardPingCommand(actor: string): RefOf<(typeof STANDARD_SERVES)['ping']> {
  return ref(actor, 'ping', 'command', STANDARD_SERVES.ping);
}
