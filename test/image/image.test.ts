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

/** The bus port the unit fixes with SECAI_BUS_PORT: the firewall rule must name the same one. */
function unitBusPort(): number {
  const m = /^Environment=SECAI_BUS_PORT=(\d+)$/m.exec(readFileSync(UNIT, 'utf8'));
  return Number(m?.[1]);
}

t.test('image — the unit fixes the bus port and the ruleset rejects it for every uid but the appliance and root, before loopback is accepted', async (t) => {
  const port = unitBusPort();
  t.ok(port > 0 && port < 65536, `SECAI_BUS_PORT=${port} in the unit`);
  const text = readFileSync(RULES, 'utf8');
  const rule = `tcp dport ${port} meta skuid != { 0, 947 } counter reject with tcp reset`;
  t.ok(text.includes(rule), 'the output chain has the owner rule for the bus port');
  t.ok(text.indexOf(rule) < text.indexOf('oif "lo" accept'), 'the owner rule comes before loopback is accepted');
});

// The rule applied for real in a network namespace of our own: a listener on the bus port, then
// connects as root, as the appliance's uid 947 and as nobody (65534). Needs root (setpriv, nft -f).
t.test('image — applied in a fresh network namespace, the bus port accepts uid 947 and root and refuses another uid', { skip: process.getuid?.() === 0 ? false : 'needs root to switch uids' }, async (t) => {
  const port = unitBusPort();
  if (!(port > 0)) { t.fail('the unit sets no SECAI_BUS_PORT'); return; }
  const probe = `const c=require("net").connect(${port},"127.0.0.1");c.on("connect",()=>{console.log("connected");process.exit(0)});c.on("error",e=>{console.log(e.code);process.exit(1)});setTimeout(()=>{console.log("timeout");process.exit(2)},3000)`;
  const script = [
    // tap's process-info hook adds `--import <checkout>/node_modules/…` to NODE_OPTIONS of every child,
    // which the other uids cannot read when the checkout sits under a 0700 folder (as in CI).
    'unset NODE_OPTIONS',
    'set -e', 'ip link set lo up', `nft -f "$1"`,
    `node -e 'require("net").createServer((c)=>c.end()).listen(${port},"127.0.0.1")' & L=$!`,
    // Wait (bounded) until the listener answers root: from then on a refusal is the firewall's doing.
    `for i in $(seq 1 100); do if node -e '${probe}' >/dev/null; then break; fi; sleep 0.1; done`,
    `for u in 0 947 65534; do echo "uid $u: $(setpriv --reuid $u --regid $u --clear-groups node -e '${probe}' || true)"; done`,
    `nft list chain inet secai output | grep -o 'counter packets [0-9]* bytes [0-9]* reject' | head -1`,
    'kill $L',
  ].join('\n');
  // A bare environment: the probes must not inherit tap's NODE_OPTIONS (they run as other uids).
  // cwd '/': the other uids cannot enter a checkout under a 0700 folder.
  const r = spawnSync('unshare', ['-n', 'bash', '-c', script, 'ns', RULES], { cwd: '/', encoding: 'utf8', timeout: 60_000, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
  t.equal(r.status, 0, 'the namespace script ran', { stderr: r.stderr, stdout: r.stdout });
  t.match(r.stdout, /^uid 0: connected$/m);
  t.match(r.stdout, /^uid 947: connected$/m);
  t.match(r.stdout, /^uid 65534: ECONNREFUSED$/m);
  t.match(r.stdout, /counter packets [1-9]\d* bytes \d+ reject/, 'the refusal was the rule\'s (its counter moved)');
});
