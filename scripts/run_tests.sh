#!/usr/bin/env bash
# Run the test suite: the package's tests, and every notebook under nbval at the smoke budget.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
DDPM_BUDGET=smoke .venv/bin/python -m pytest tests book --nbval-lax -p no:cacheprovider "$@"
