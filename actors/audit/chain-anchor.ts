// The audit chain's freshness anchor (keys/audit.anchor, outside audit/) and the start-time checks against it and JetStream.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalJson } from '../../common/canonical-json.js';
import { writeFileAtomic } from '../../common/fs-atomic.js';

/**
 * The last chain end the audit actor made durable. It lives under keys/, not audit/: restoring or deleting the audit
 * folder alone leaves it behind, and it only ever moves forward (raised after the chain's fsync, never before).
 */
export interface ChainAnchor {
  seq: number;
  hash: string;
  streams: Record<string, number>;
}

export type AnchorRead =
  | { state: 'missing' }
  | { state: 'invalid'; reason: string }
  | { state: 'ok'; anchor: ChainAnchor };

/** Where a JetStream tap stream and the audit consumer stand (from STREAM.INFO and CONSUMER.INFO). */
export interface StreamPosition {
  stream: string;
  /** Every stream sequence up to here was acked by the audit actor, which acks only what is already in the chain. */
  ackFloor: number;
  firstSeq: number;
  lastSeq: number;
  /** The highest stream sequence the audit consumer was ever delivered: 0 for a consumer that is new. */
  delivered: number;
}

/** The chain as the audit actor found it on disk. */
export interface ChainEnd {
  length: number;
  /** The hash of record `anchor.seq`, when the chain is that long. */
  hashAtAnchor?: string;
  /** The highest stream sequence of each tap stream in the chain. */
  streams: Record<string, number>;
}

/** One reason the chain is not the latest one the appliance wrote: what was expected, what was found. */
export interface FreshnessFinding {
  check: 'anchor' | 'jetstream';
  reason: string;
  expected: string;
  found: string;
}

export const ANCHOR_FILE = 'audit.anchor';
// A domain tag: an anchor MAC can never be replayed as a record or head MAC made with the same key.
const DOMAIN = 'secai-audit-anchor-v1';

export const anchorPath = (keysDir: string): string => join(keysDir, ANCHOR_FILE);

function anchorMac(key: Uint8Array, a: ChainAnchor): string {
  return createHmac('sha256', key).update(DOMAIN).update(canonicalJson({ seq: a.seq, hash: a.hash, streams: a.streams })).digest('hex');
}

export function writeAnchor(path: string, key: Uint8Array, a: ChainAnchor): void {
  const body = { seq: a.seq, hash: a.hash, streams: { ...a.streams } };
  writeFileAtomic(path, JSON.stringify({ ...body, hmac: anchorMac(key, body) }) + '\n', 0o600);
}

export function readAnchor(path: string, key: Uint8Array): AnchorRead {
  if (!existsSync(path)) return { state: 'missing' };
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return { state: 'invalid', reason: 'the chain anchor is unreadable' };
  }
  const a = raw as Partial<ChainAnchor & { hmac: string }>;
  const streamsOk = typeof a.streams === 'object' && a.streams !== null && Object.values(a.streams).every((v) => Number.isSafeInteger(v) && v >= 0);
  if (!Number.isSafeInteger(a.seq) || a.seq! < 0 || typeof a.hash !== 'string' || !/^[0-9a-f]{64}$/.test(a.hash) || !streamsOk || typeof a.hmac !== 'string') {
    return { state: 'invalid', reason: 'the chain anchor is malformed' };
  }
  const anchor: ChainAnchor = { seq: a.seq!, hash: a.hash, streams: a.streams! };
  const want = Buffer.from(anchorMac(key, anchor));
  const got = Buffer.from(a.hmac);
  if (want.length !== got.length || !timingSafeEqual(want, got)) return { state: 'invalid', reason: 'the chain anchor has a bad HMAC' };
  return { state: 'ok', anchor };
}

/**
 * Whether the chain on disk is at least as new as the anchor and as what JetStream saw acknowledged. A chain longer than
 * the anchor is fine (a crash between the chain's fsync and the anchor's rename); shorter, replaced or missing is not.
 */
export function checkFreshness(end: ChainEnd, anchor: AnchorRead, positions: readonly StreamPosition[] = []): FreshnessFinding[] {
  const out: FreshnessFinding[] = [];
  if (anchor.state === 'missing' && end.length > 0) {
    out.push({ check: 'anchor', reason: `the chain anchor (keys/${ANCHOR_FILE}) is missing but the chain holds ${end.length} records`, expected: 'an anchor', found: 'none' });
  } else if (anchor.state === 'invalid') {
    out.push({ check: 'anchor', reason: anchor.reason, expected: 'an anchor with a valid HMAC', found: 'an invalid anchor' });
  } else if (anchor.state === 'ok') {
    const a = anchor.anchor;
    if (a.seq > end.length) {
      out.push({
        check: 'anchor',
        reason: end.length === 0
          ? `the chain is missing: the anchor says ${a.seq} records were written`
          : `the chain was rolled back: it ends at record ${end.length} but the anchor says ${a.seq} records were written`,
        expected: `at least ${a.seq} records, record ${a.seq} with hash ${a.hash}`,
        found: `${end.length} records`,
      });
    } else if (a.seq > 0 && end.hashAtAnchor !== a.hash) {
      out.push({
        check: 'anchor',
        reason: `the chain was replaced: record ${a.seq} is not the record the anchor names`,
        expected: `record ${a.seq} with hash ${a.hash}`,
        found: `record ${a.seq} with hash ${end.hashAtAnchor ?? 'none'}`,
      });
    }
  }
  for (const p of positions) {
    const inChain = end.streams[p.stream] ?? 0;
    if (isRecreated(p, inChain)) {
      out.push({
        check: 'jetstream',
        reason: `JetStream stream ${p.stream} was recreated (its store was deleted or replaced): the audit consumer is new while the chain holds its messages up to ${inChain}; what was acknowledged before can no longer be checked`,
        expected: `a consumer that delivered ${p.stream} messages up to ${inChain}`,
        found: `a new consumer (stream at ${p.lastSeq})`,
      });
      continue;
    }
    // Messages the stream dropped (age or size limit) before the actor fetched them may lie below the ack floor
    // without being in the chain; the message AT the floor, while the stream still holds it, was fetched and appended.
    if (p.ackFloor > inChain && p.ackFloor >= p.firstSeq) {
      out.push({
        check: 'jetstream',
        reason: `records were lost: JetStream stream ${p.stream} had messages up to ${p.ackFloor} acknowledged into the chain, but the chain holds ${inChain ? `only up to ${inChain}` : 'none of them'}`,
        expected: `${p.stream} messages up to stream sequence ${p.ackFloor}`,
        found: `${p.stream} messages up to stream sequence ${inChain}`,
      });
    }
  }
  return out;
}

/**
 * A consumer that never delivered anything, on a stream the chain already holds messages of: the supervisor made both
 * anew, so the JetStream store was deleted. (A consumer that only lost its latest state in a crash still has a past.)
 */
function isRecreated(p: StreamPosition, inChain: number): boolean {
  return inChain > 0 && p.delivered === 0 && p.ackFloor === 0;
}

/** The tap streams whose sequences start again at 1: the chain starts a new series for them. */
export function recreatedStreams(end: Pick<ChainEnd, 'streams'>, positions: readonly StreamPosition[] = []): string[] {
  return positions.filter((p) => isRecreated(p, end.streams[p.stream] ?? 0)).map((p) => p.stream);
}
