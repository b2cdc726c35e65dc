#!/usr/bin/env bash
# The whole check CI runs: set up, lint, architecture contracts, then the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
. .venv/bin/activate
ruff check .
ruff format --check .
lint-imports
python -m pytest "$@"
