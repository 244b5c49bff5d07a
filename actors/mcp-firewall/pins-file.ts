// The approved MCP tool definitions on disk: signed with the appliance key, so an edited file pins nothing.
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { canonicalJson } from '../../common/canonical-json.js';
import type { ApplianceKey } from '../../common/appliance-key.js';
import { writeFileAtomic } from '../../common/fs-atomic.js';
import { getSodium } from '../../common/sodium.js';
import type { Pin } from '../../machines/mcp-firewall/mcp-firewall.machine.js';

const DOMAIN = 'secai-mcp-pins-v1\n';

interface PinsFile { v: 1; pins: Record<string, Pin>; sig: string }

/**
 * The pins, or none with the reason when the file is missing, unreadable or not signed by this appliance:
 * a tool whose pin cannot be shown to be ours waits for a new approval (fail closed), it is never trusted.
 */
export async function readPins(path: string, key: ApplianceKey): Promise<{ pins: Record<string, Pin>; problem: string | null }> {
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { pins: {}, problem: code === 'ENOENT' ? null : `${path}: ${code ?? 'unreadable'}` };
  }
  const sodium = await getSodium();
  try {
    const f = JSON.parse(raw) as PinsFile;
    if (f.v !== 1 || typeof f.sig !== 'string' || !f.pins || typeof f.pins !== 'object') return { pins: {}, problem: `${path} is not a pins file` };
    const ok = sodium.crypto_sign_verify_detached(sodium.from_base64(f.sig), DOMAIN + canonicalJson(f.pins), key.publicKey);
    return ok ? { pins: f.pins, problem: null } : { pins: {}, problem: `${path} is not signed by this appliance: every pin is dropped` };
  } catch {
    return { pins: {}, problem: `${path} is not valid: every pin is dropped` };
  }
}

export async function writePins(path: string, key: ApplianceKey, pins: Record<string, Pin>): Promise<void> {
  const sodium = await getSodium();
  const sig = sodium.to_base64(sodium.crypto_sign_detached(DOMAIN + canonicalJson(pins), key.secretKey));
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileAtomic(path, JSON.stringify({ v: 1, pins, sig } satisfies PinsFile), 0o600);
}
