#!/usr/bin/env bash
# Set up Stereo-Spot on a fresh Debian machine (Python 3.11): system packages, a virtual
# environment in .venv with the project and its dev tools, and the deploy-check tools.
# Safe to run again: each step only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v ffmpeg >/dev/null || need_apt+=(ffmpeg)
if [ "${STEREO_SPOT_SKIP_BROWSER:-0}" != 1 ]; then
  command -v chromium >/dev/null || need_apt+=(chromium)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing ${need_apt[*]} from Debian"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    echo "setup: please install ${need_apt[*]} (e.g. sudo apt-get install ${need_apt[*]})" >&2
    exit 1
  fi
fi

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# torch is pinned to the CPU build shipped on these machines (an unpinned torch pulls CUDA).
.venv/bin/python -m pip install -q -e '.[dev]'

# checkov pins its own dependencies; it lives in a venv of its own for the static deploy scan.
if [ "${STEREO_SPOT_SKIP_DEPLOY_TOOLS:-0}" != 1 ] && [ ! -x .venv-tools/bin/checkov ]; then
  "$python" -m venv .venv-tools
  .venv-tools/bin/python -m pip install -q --no-cache-dir checkov==3.3.30
fi
echo "setup: done (.venv ready; run '.venv/bin/stereo-spot --help')"
