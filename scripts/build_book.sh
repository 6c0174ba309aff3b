#!/usr/bin/env bash
# Build the book from scratch into _build/html: every chapter executed at the cpu budget,
# warnings are errors, a failing cell fails the build.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
rm -rf _build
export DDPM_BUDGET=${DDPM_BUDGET:-cpu} TQDM_DISABLE=1  # no MPLBACKEND: the kernel needs its inline backend to draw figures
.venv/bin/jupyter-book build . --warningiserror --keep-going
.venv/bin/python scripts/check_built_pages.py _build/html
echo "book built: open _build/html/index.html"
