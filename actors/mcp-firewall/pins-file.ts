// The approved MCP tool definitions on disk: signed with the appliance key, so an edited file pins nothing, and
// numbered, with the newest number anchored in keys/ (common/signed-anchor.ts), so an older signed copy put back (one
// that still pins a definition since replaced) or a deleted file is a rollback, not a trusted record.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { canonicalJson } from '../../common/canonical-json.js';
import type { ApplianceKey } from '../../common/appliance-key.js';
import { writeFileAtomic } from '../../common/fs-atomic.js';
import { readAnchor, writeAnchor } from '../../common/signed-anchor.js';
import { getSodium } from '../../common/sodium.js';
import type { Pin } from '../../machines/mcp-firewall/mcp-firewall.machine.js';

const DOMAIN = 'secai-mcp-pins-v2\n';
/** Pins written before records were numbered: trusted only while no anchor exists, and rewritten numbered at start. */
const DOMAIN_V1 = 'secai-mcp-pins-v1\n';
const ANCHOR = 'mcp-pins';

interface PinsFile { v: 2; seq: number; pins: Record<string, Pin>; sig: string }

/** Where the pins live: SECAI_HOME/mcp/pins.json and its anchor, keys/mcp-pins.anchor. */
export interface PinFiles { file: string; anchor: string }

/**
 * The pins as read at start: `seq` is the number the next write must pass (never behind the anchor). Every pin is
 * dropped, with `problem` saying why, when the file is unreadable, not signed by this appliance, older than the
 * anchor, or missing after a write was anchored: a tool whose pin cannot be shown to be the newest waits for a new
 * approval (fail closed).
 */
export interface ReadPins { pins: Record<string, Pin>; seq: number; anchored: number | null; problem: string | null; legacy?: true }

export async function readPins(where: PinFiles, key: ApplianceKey): Promise<ReadPins> {
  const anchored = await readAnchor(where.anchor, ANCHOR, key.publicKey);
  if (anchored === 'forged') return { pins: {}, seq: 0, anchored: null, problem: `${where.anchor} (the pins anchor) does not verify: every pin is dropped` };
  const floor = anchored ?? 0;
  const drop = (problem: string, seq = floor) => ({ pins: {}, seq: Math.max(seq, floor), anchored, problem });
  if (!existsSync(where.file)) return anchored ? drop(`${where.file} is missing, though pins record ${anchored} was written: every pin is dropped`) : { pins: {}, seq: 0, anchored, problem: null };
  let raw: string;
  try {
    raw = readFileSync(where.file, 'utf8');
  } catch (err) {
    return drop(`${where.file}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`);
  }
  const sodium = await getSodium();
  const verifies = (sig: string, text: string): boolean => {
    try {
      return sodium.crypto_sign_verify_detached(sodium.from_base64(sig), text, key.publicKey);
    } catch {
      return false; // lint-ok: a signature that does not decode is one that does not verify
    }
  };
  let f: Partial<Omit<PinsFile, 'v'>> & { v?: unknown };
  try {
    f = JSON.parse(raw) as Partial<PinsFile>;
  } catch {
    return drop(`${where.file} is not valid: every pin is dropped`);
  }
  if (f && f.v === 1 && anchored === null && typeof f.sig === 'string' && f.pins && typeof f.pins === 'object') {
    return verifies(f.sig, DOMAIN_V1 + canonicalJson(f.pins)) ? { pins: f.pins, seq: 0, anchored, problem: null, legacy: true } : drop(`${where.file} is not signed by this appliance: every pin is dropped`);
  }
  if (!f || f.v !== 2 || !Number.isSafeInteger(f.seq) || (f.seq as number) < 0 || typeof f.sig !== 'string' || !f.pins || typeof f.pins !== 'object') return drop(`${where.file} is not a pins file: every pin is dropped`);
  const seq = f.seq as number;
  if (!verifies(f.sig, DOMAIN + canonicalJson({ seq, pins: f.pins }))) return drop(`${where.file} is not signed by this appliance: every pin is dropped`, seq);
  if (seq < floor) return drop(`${where.file} is pins record ${seq}, older than record ${floor} written last (an old signed copy put back): every pin is dropped`);
  return { pins: f.pins, seq, anchored, problem: null };
}

/** Signs and writes pins record `seq` atomically, then anchors it. */
export async function writePins(where: PinFiles, key: ApplianceKey, pins: Record<string, Pin>, seq: number): Promise<void> {
  const sodium = await getSodium();
  const sig = sodium.to_base64(sodium.crypto_sign_detached(DOMAIN + canonicalJson({ seq, pins }), key.secretKey));
  mkdirSync(dirname(where.file), { recursive: true, mode: 0o700 });
  writeFileAtomic(where.file, JSON.stringify({ v: 2, seq, pins, sig } satisfies PinsFile), 0o600);
  await anchorPins(where, key, seq);
}

/** Anchors `seq` alone: at start, for a trusted file the anchor is behind (a crash between the file and its anchor). */
export const anchorPins = (where: PinFiles, key: ApplianceKey, seq: number): Promise<void> => writeAnchor(where.anchor, ANCHOR, key, seq);
