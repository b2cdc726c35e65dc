#!/usr/bin/env bash
# Shell entry point for the render step (docs/DEPLOY.md); all logic is in the Python script.
set -euo pipefail
exec python3 "$(dirname "$0")/render_kustomize_inputs.py" "$@"
