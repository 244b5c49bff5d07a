// The image's systemd unit and nftables ruleset are checked by the real tools, offline.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');
const UNIT = join(ROOT, 'image', 'systemd', 'secai.service');
const RULES = join(ROOT, 'image', 'nftables', 'secai.nft');

/** `nft -c` needs CAP_NET_ADMIN: as root directly, otherwise in a user+net namespace of our own. */
function nftCheck(file: string) {
  const cmd = process.getuid?.() === 0 ? ['nft', ['-c', '-f', file]] as const : ['unshare', ['-rn', 'nft', '-c', '-f', file]] as const;
  return spawnSync(cmd[0], cmd[1], { encoding: 'utf8' });
}

/** systemd-analyze exits 0 on unknown keys; any output on stderr is a failure here. */
function unitCheck(file: string) {
  return spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' });
}

t.test('image — the nftables ruleset is valid and drops by default in both directions', async (t) => {
  const r = nftCheck(RULES);
  t.equal(r.status, 0, r.stderr);
  const text = readFileSync(RULES, 'utf8');
  t.match(text, /hook input priority filter; policy drop;/);
  t.match(text, /hook output priority filter; policy drop;/);
  t.match(text, /hook forward priority filter; policy drop;/);
  t.notMatch(text, /policy accept/);
});

t.test('image — the checker catches a broken ruleset (so the check above means something)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'secai-nft-'));
  t.teardown(() => rmSync(dir, { recursive: true }));
  const bad = join(dir, 'bad.nft');
  writeFileSync(bad, readFileSync(RULES, 'utf8').replace('policy drop;', 'policy dorp;'));
  t.not(nftCheck(bad).status, 0);
});

t.test('image — the systemd unit verifies without a single warning and keeps its hardening', async (t) => {
  const r = unitCheck(UNIT);
  t.equal(r.status, 0);
  t.equal(r.stderr.trim(), '', 'no warnings');
  const text = readFileSync(UNIT, 'utf8');
  for (const line of ['IPAddressDeny=any', 'IPAddressAllow=localhost', 'NoNewPrivileges=yes', 'ProtectSystem=strict', 'ProtectHome=yes', 'PrivateTmp=yes', 'CapabilityBoundingSet=', 'UMask=0077', 'SystemCallFilter=@system-service', 'DevicePolicy=closed']) {
    t.ok(text.split('\n').includes(line), `has ${line}`);
  }
});

t.test('image — the unit checker catches an unknown key', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'secai-unit-'));
  t.teardown(() => rmSync(dir, { recursive: true }));
  const bad = join(dir, 'secai.service');
  writeFileSync(bad, readFileSync(UNIT, 'utf8').replace('NoNewPrivileges=yes', 'NoNewPrivilege=yes'));
  t.match(unitCheck(bad).stderr, /Unknown key/);
});
