#!/usr/bin/env bash
# Install the system packages castmeter's run and tests need, only those missing.
# Debian/Ubuntu (apt). Without root it lists what is missing and exits 0 (tests then skip).
set -euo pipefail

# nginx (+ openssl for its test certificate): the front door the security tests start (docs/proxy).
# faketime: libfaketime, for the suite run at the edges of a month and a year (scripts/test-clock-edges.sh)
# and the known-answer fleet's live run at its scripted date.
PACKAGES=(prometheus prometheus-node-exporter postgresql chromium nginx openssl faketime)
# ffmpeg: the real HLS pipeline test (an encoder and HLS clients; tests/collectors/hls/test_real_hls.py).
PACKAGES+=(ffmpeg)
# prometheus-alertmanager (+ amtool): live alerts through a real Alertmanager; systemd: only for
# `systemd-analyze verify` of deploy/systemd (it works without systemd running as PID 1).
PACKAGES+=(prometheus-alertmanager systemd)
# python3.11 for the venv, only when no python3.11 is on PATH (pyenv etc. count).
if ! command -v python3.11 >/dev/null 2>&1; then
  PACKAGES+=(python3.11 python3.11-venv)
fi

missing=()
for package in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "deps: all system packages present (${PACKAGES[*]})"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "deps: WARNING: no apt-get; install these yourself: ${missing[*]}" >&2
  exit 0
fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  else
    echo "deps: WARNING: not root; missing packages: ${missing[*]} (tests needing them will skip)" >&2
    exit 0
  fi
fi

echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
