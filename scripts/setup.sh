#!/usr/bin/env bash
# Brings a fresh Debian machine with Node 20 to a runnable checkout: Debian packages, npm ci, build.
# Idempotent and quiet when nothing is missing; `npm start` and `npm test` both run it first.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the appliance and its tests run for real (see ../docs/architecture.md).
apt_packages=(nats-server bubblewrap nftables shellcheck cryptsetup-bin inotify-tools swtpm swtpm-tools tpm2-tools)
# Chromium only drives the UI tests: `npm start` sets SECAI_SETUP_BROWSER=0 and does not install it.
[ "${SECAI_SETUP_BROWSER:-1}" = 1 ] && apt_packages+=(chromium)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  sudo_cmd=()
  [ "$(id -u)" = 0 ] || sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# onnxruntime-node's postinstall downloads CUDA parts; the CPU binary ships inside the package.
export ONNXRUNTIME_NODE_INSTALL=skip
stamp=node_modules/.secai-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
  echo "$want" > "$stamp"
fi

# Build when any source is newer than the last build.
if [ ! -f dist/.built ] || [ -n "$(find actors bus machines workers common policy bin ui scripts runtime contracts tsconfig.json tsconfig.build.json package.json -newer dist/.built -type f 2>/dev/null | head -n 1)" ]; then
  echo "setup: build" >&2
  npm run --silent build >&2
  touch dist/.built
fi
