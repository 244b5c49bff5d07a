// Actor manifests: what each identity serves, publishes, requests and subscribes. They are the ACL source.
import type { JsonSchema } from './schema.js';

export interface OpSpec {
  request: JsonSchema;
  reply: JsonSchema;
  description: string;
  /** Largest request accepted, in bytes (default DEFAULT_MAX_PAYLOAD). */
  maxBytes?: number;
  /** Requests may take this long before the caller gives up (default 5 s); for streams, between two messages. */
  timeoutMs?: number;
  /**
   * A streaming op: the handler sends chunks to the requester's reply inbox before its final reply
   * (see BusClient.requestStream). Only such identities may answer a request more than once.
   */
  stream?: boolean;
  /** Streaming ops: the schema of each chunk (the client checks every one, as it checks the reply). */
  chunk?: JsonSchema;
  /**
   * Requests are answered as each settles instead of one at a time in arrival order: for ops whose
   * handler waits on the outside world for one caller (an airlock download waiting on a slow server must
   * not hold up another's). The handler bounds how many run and orders what must be ordered.
   */
  concurrent?: boolean;
  /**
   * Only these identities may request it (a containment op only the incident actor may ask): the ACL compiler
   * refuses any other manifest that requests it. Names need not be in the catalog yet. Unset: any that declare it.
   */
  callers?: readonly string[];
}

export interface CommandSpec extends OpSpec {
  /** Operator roles allowed to run it; `admin` may run everything. */
  roles: readonly string[];
}

export type ManifestKind = 'actor' | 'supervisor' | 'client';

export interface ActorManifest {
  /** Subject token and NATS identity. */
  name: string;
  kind: ManifestKind;
  description: string;
  /** secai.<name>.<op>, request/reply. */
  serves: Record<string, OpSpec>;
  /** secai.cmd.<name>.<op>, signed operator commands. */
  commands: Record<string, CommandSpec>;
  /** secai.evt.<name>.<event> with the schema of its payload. */
  publishes: Record<string, JsonSchema>;
  /** `<actor>.<op>` served by others that this identity may request; `*.<op>`: a standard op (ping) of every actor process. */
  requests: readonly string[];
  /** `<actor>.<event|*>` event patterns this identity may subscribe. */
  subscribes: readonly string[];
  /** `<actor>.<op>` commands (or `*.*`) this identity may send: clients only. */
  sends?: readonly string[];
  /** Whether it may subscribe every actor's state subject (visualizer, supervisor). */
  watchesState?: boolean;
  /** JetStream access: `admin` (create streams: supervisor only) or durable consumers of named streams. */
  jetstream?: { admin?: boolean; consume?: readonly string[] };
  /** Relative path of its process entry under the build (actors only). */
  entry?: string;
}

export function defineManifest<const M extends ActorManifest>(m: M): M {
  return m;
}
