#!/usr/bin/env bash
# Create .venv (Python 3.10+) and install everything the book and the tests need. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
  || { echo "error: Python 3.10 or newer is needed (found $("$PYTHON" --version)); set PYTHON=python3.11" >&2; exit 1; }
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -r requirements.txt
.venv/bin/python -m ipykernel install --sys-prefix --name python3 >/dev/null
