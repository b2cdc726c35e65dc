#!/usr/bin/env bash
# The whole check CI runs: set up, lint, architecture contracts, then the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
. .venv/bin/activate
ruff check .
ruff format --check .
lint-imports
# Test files run in parallel, one worker per core up to four: each file's tests start their own
# servers and ffmpeg processes, so a worker keeps more than one core busy at times. A file stays
# on one worker (--dist loadfile), so its module fixtures start once. Pass -n 0 to run serially.
workers="${STEREO_SPOT_TEST_WORKERS:-$(python -c 'import os; print(min(4, len(os.sched_getaffinity(0))))')}"
python -m pytest -n "$workers" --dist loadfile "$@"
