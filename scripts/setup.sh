#!/usr/bin/env bash
# Set up Stereo-Spot on a fresh Debian machine (Python 3.11): ffmpeg, a virtual environment in
# .venv with the project, and with --dev the test tools too (Chromium for the browser test, the
# dev extra, checkov for the deploy scan). Safe to run again: each step does only what is missing.
#
#   bash scripts/setup.sh          # to run Stereo-Spot
#   bash scripts/setup.sh --dev    # to develop and test it (what scripts/test.sh does)
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
[ "${1:-}" = "--dev" ] && dev=1

need_apt=()
command -v ffmpeg >/dev/null || need_apt+=(ffmpeg)
[ $dev = 1 ] && ! command -v chromium >/dev/null && need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing ${need_apt[*]} from Debian"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    echo "setup: please install ${need_apt[*]} first (sudo apt-get install ${need_apt[*]})" >&2
    exit 1
  fi
fi

python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
if [ $dev = 1 ]; then
  .venv/bin/python -m pip install -q -e '.[dev,ml]'
  # checkov pins its own dependencies, so it gets a venv of its own (tests/deploy finds it there).
  if [ ! -x .venv-tools/bin/checkov ]; then
    "$python" -m venv .venv-tools
    .venv-tools/bin/python -m pip install -q --no-cache-dir checkov==3.3.30
  fi
else
  .venv/bin/python -m pip install -q -e .
fi
echo "setup: done; try .venv/bin/stereo-spot --help"
