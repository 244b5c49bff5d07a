// Classifies IP addresses for egress: only global unicast may be reached (no SSRF into the host or LAN).
import { isIPv4, isIPv6 } from 'node:net';

export type AddressClass =
  | 'public' | 'loopback' | 'private' | 'link-local' | 'cgnat' | 'multicast' | 'unspecified'
  | 'broadcast' | 'reserved' | 'ula' | 'documentation' | 'benchmark' | 'invalid';

function v4(a: string): number[] | undefined {
  if (!isIPv4(a)) return undefined;
  return a.split('.').map(Number);
}

function classifyV4(o: number[]): AddressClass {
  const [a, b, c] = o as [number, number, number, number];
  if (a === 0) return 'unspecified';
  if (a === 127) return 'loopback';
  if (a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168)) return 'private';
  if (a === 169 && b === 254) return 'link-local';
  if (a === 100 && b >= 64 && b <= 127) return 'cgnat';
  if (a >= 224 && a <= 239) return 'multicast';
  if (a === 255 && b === 255 && c === 255 && o[3] === 255) return 'broadcast';
  if (a >= 240) return 'reserved';
  if (a === 192 && b === 0 && (c === 0 || c === 2)) return c === 2 ? 'documentation' : 'reserved';
  if ((a === 198 && b === 51 && c === 100) || (a === 203 && b === 0 && c === 113)) return 'documentation';
  if (a === 198 && (b === 18 || b === 19)) return 'benchmark';
  return 'public';
}

/** Expands an IPv6 address (already validated) into 8 groups; an embedded IPv4 tail becomes 2 groups. */
function groups6(a: string): number[] {
  let s = a.toLowerCase();
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (tail) {
    const o = tail[1]!.split('.').map(Number) as [number, number, number, number];
    s = s.slice(0, -tail[1]!.length) + `${((o[0] << 8) | o[1]).toString(16)}:${((o[2] << 8) | o[3]).toString(16)}`;
  }
  const [head, rest] = s.includes('::') ? s.split('::') as [string, string] : [s, undefined];
  const h = head ? head.split(':').map((x) => parseInt(x, 16)) : [];
  if (rest === undefined) return h;
  const r = rest ? rest.split(':').map((x) => parseInt(x, 16)) : [];
  return [...h, ...new Array<number>(8 - h.length - r.length).fill(0), ...r];
}

function classifyV6(g: number[]): AddressClass {
  const allZero = (from: number, to: number) => g.slice(from, to).every((x) => x === 0);
  if (allZero(0, 8)) return 'unspecified';
  if (allZero(0, 7) && g[7] === 1) return 'loopback';
  // IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d), NAT64 (64:ff9b::/96) and SIIT (::ffff:0:a.b.c.d) carry an IPv4 target.
  const embedded = (hi: number, lo: number) => classifyV4([hi >> 8, hi & 255, lo >> 8, lo & 255]);
  if (allZero(0, 5) && g[5] === 0xffff) return embedded(g[6]!, g[7]!);
  if (allZero(0, 6)) return embedded(g[6]!, g[7]!);
  if (allZero(0, 4) && g[4] === 0xffff && g[5] === 0) return embedded(g[6]!, g[7]!);
  if (g[0] === 0x64 && g[1] === 0xff9b) return embedded(g[6]!, g[7]!);
  const first = g[0]!;
  if ((first & 0xffc0) === 0xfe80) return 'link-local';
  if ((first & 0xffc0) === 0xfec0) return 'private'; // deprecated site-local
  if ((first & 0xfe00) === 0xfc00) return 'ula';
  if ((first & 0xff00) === 0xff00) return 'multicast';
  if (first === 0x2001 && g[1] === 0x0db8) return 'documentation';
  if (first === 0x2002) return embedded(g[1]!, g[2]!); // 6to4 embeds an IPv4 address
  if (first === 0x2001 && g[1] === 0) return 'reserved'; // Teredo: the real peer is hidden
  if (first === 0x100 && allZero(1, 4)) return 'reserved'; // discard-only
  if ((first & 0xe000) !== 0x2000) return 'reserved'; // outside global unicast 2000::/3
  return 'public';
}

export function classifyAddress(address: string): AddressClass {
  const o = v4(address);
  if (o) return classifyV4(o);
  if (isIPv6(address)) return classifyV6(groups6(address));
  return 'invalid';
}

/** Whether an address is loopback (the only class the test switch may open). */
export const isLoopback = (address: string) => classifyAddress(address) === 'loopback';
