"""Write the first code cell of every chapter from one place: the repository URL in
``_config.yml`` (which the book's Colab and repository buttons use too) and the package's
``__version__``. On Colab the cell installs exactly that version, the git tag ``v<version>``,
which ``scripts/tag_release.sh`` creates when the book is published.

    .venv/bin/python scripts/sync_setup_cells.py           # rewrite the cells
    .venv/bin/python scripts/sync_setup_cells.py --check   # exit 1 if a cell differs (a test runs this)
"""

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TEMPLATE = '''# Setup: where the package is missing (Colab), install the version this book
# was built with; then read the compute budget and pick the device.
import importlib.util, subprocess, sys
REPOSITORY = "{url}"
PACKAGE = f"ddpm-from-scratch @ git+{{REPOSITORY}}@v{version}"
if importlib.util.find_spec("ddpm_from_scratch") is None:  # e.g. on Colab
    pip = [sys.executable, "-m", "pip", "install", "-q", PACKAGE]
    if subprocess.run(pip).returncode != 0:
        raise RuntimeError(f"could not install {{PACKAGE}}: this notebook "
                           "needs the internet once, to install the package.")
import torch
from ddpm_from_scratch.budget import setup, by_budget
BUDGET, DEVICE = setup(seed=0, chapter="{chapter}")'''


def repository_url() -> str:
    config = (ROOT / "_config.yml").read_text()
    match = re.search(r"^repository:\s*\n\s+url:\s*(\S+)", config, re.MULTILINE)
    if not match:
        raise SystemExit("_config.yml has no repository: url:")
    return match.group(1)


def version() -> str:
    return re.search(r'__version__ = "([^"]+)"', (ROOT / "ddpm_from_scratch" / "__init__.py").read_text()).group(1)


def setup_cell(chapter: str) -> str:
    return TEMPLATE.format(url=repository_url(), version=version(), chapter=chapter)


def chapters() -> list:
    return sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))


def main(check: bool) -> int:
    stale = []
    for path in chapters():
        wanted = setup_cell(path.name[:2])
        notebook = json.loads(path.read_text())
        cell = next(c for c in notebook["cells"] if c["cell_type"] == "code")
        if "".join(cell["source"]) == wanted:
            continue
        stale.append(path.name)
        if not check:
            lines = wanted.split("\n")
            cell["source"] = [line + "\n" for line in lines[:-1]] + [lines[-1]]
            path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
    if check and stale:
        print(f"setup cells out of date in {', '.join(stale)}: run python scripts/sync_setup_cells.py")
        return 1
    print(f"{'checked' if check else 'synced'} {len(chapters())} chapters: they install v{version()} "
          f"from {repository_url()}" + (f" (rewrote {', '.join(stale)})" if stale and not check else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main("--check" in sys.argv[1:]))
