#!/usr/bin/env bash
# OS-level vault: a LUKS2 volume (Argon2id key slot) for /var/lib/secure-ai, under the application vault.
#
# usage: luks-setup.sh DEVICE [--format-only]
#   DEVICE          a partition, or a file (tests use a loop file)
#   --format-only   write the LUKS2 header and stop (no dm-crypt needed: for tests and image builds)
# The passphrase is read from the file named by SECAI_LUKS_KEYFILE, or from stdin (one line).
#
# TPM2 sealing (optional, on hardware with a TPM 2.0):
#   systemd-cryptenroll --tpm2-device=auto --tpm2-pcrs=7 DEVICE
# adds a key slot sealed to the TPM and bound to PCR 7 (Secure Boot policy): the volume opens at
# boot without a prompt only while the measured boot chain is unchanged. Keep the passphrase slot
# as the recovery path; re-enroll after firmware or Secure Boot key updates
# (systemd-cryptenroll --wipe-slot=tpm2 --tpm2-device=auto DEVICE). /etc/crypttab then reads:
#   secai-vault UUID=<uuid> none luks,discard,tpm2-device=auto
# A TPM-sealed slot protects a powered-off stolen disk; it does not protect a running, unlocked
# machine, and panic level 3 (docs/vault.md) should also wipe it: cryptsetup luksKillSlot / luksErase.
set -euo pipefail

NAME=secai-vault
MOUNT=/var/lib/secure-ai

die() { echo "luks-setup: $*" >&2; exit 2; }

[[ $# -ge 1 ]] || die "usage: luks-setup.sh DEVICE [--format-only]"
DEVICE=$1
FORMAT_ONLY=0
if [[ ${2:-} == --format-only ]]; then FORMAT_ONLY=1; elif [[ -n ${2:-} ]]; then die "unknown option: $2"; fi

command -v cryptsetup >/dev/null || die "cryptsetup is not installed"
[[ -e $DEVICE ]] || die "no such device or file: $DEVICE"
if cryptsetup isLuks "$DEVICE" 2>/dev/null; then die "$DEVICE already holds a LUKS header: refusing to overwrite it"; fi

KEYFILE=$(mktemp)
chmod 600 "$KEYFILE"
trap 'shred -u "$KEYFILE" 2>/dev/null || rm -f "$KEYFILE"' EXIT
if [[ -n ${SECAI_LUKS_KEYFILE:-} ]]; then
  cat -- "$SECAI_LUKS_KEYFILE" > "$KEYFILE"
else
  IFS= read -r line || true
  printf '%s' "$line" > "$KEYFILE"
fi
[[ $(wc -c < "$KEYFILE") -ge 8 ]] || die "the passphrase needs at least 8 characters"

# Argon2id with 1 GiB and at least 2 s of work (tests lower both: SECAI_LUKS_PBKDF_KIB, SECAI_LUKS_ITER_MS); AES-XTS 512-bit keys (AES-256) and 4 KiB sectors.
cryptsetup luksFormat --batch-mode --type luks2 \
  --pbkdf argon2id --pbkdf-memory "${SECAI_LUKS_PBKDF_KIB:-1048576}" --iter-time "${SECAI_LUKS_ITER_MS:-2000}" --pbkdf-parallel 4 \
  --cipher aes-xts-plain64 --key-size 512 --sector-size 4096 \
  --label "$NAME" --key-file "$KEYFILE" "$DEVICE"

if [[ $FORMAT_ONLY -eq 1 ]]; then
  echo "luks-setup: formatted $DEVICE (LUKS2, argon2id); not opened (--format-only)"
  exit 0
fi

cryptsetup open --type luks2 --key-file "$KEYFILE" "$DEVICE" "$NAME"
mkfs.ext4 -q -L secai-data "/dev/mapper/$NAME"
mkdir -p "$MOUNT"
mount -o nodev,nosuid,noexec "/dev/mapper/$NAME" "$MOUNT"
chmod 700 "$MOUNT"
echo "luks-setup: $DEVICE opened as /dev/mapper/$NAME and mounted on $MOUNT"
