"""Time every chapter notebook at a budget, and the `evaluate` command.

    python benchmarks/chapters.py --budget smoke cpu      # prints one line per notebook and budget
    python benchmarks/chapters.py --budget cpu --only 03   # only the notebooks whose name contains "03"

A benchmark, not a test: it prints figures and never fails on time.
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent


def time_notebook(path: Path, budget: str) -> float:
    os.environ.update(DDPM_BUDGET=budget, TQDM_DISABLE="1", MPLBACKEND="Agg")
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=1200, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", nargs="+", default=["smoke", "cpu"])
    parser.add_argument("--only", default="", help="time only the notebooks whose file name contains this")
    parser.add_argument("--evaluate", action="store_true",
                        help="also time `evaluate --recipe digits` and `evaluate --recipe shapes`")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPU cores")
    for budget in args.budget:
        for path in sorted(p for p in (ROOT / "book").glob("*.ipynb") if args.only in p.name):
            print(f"{path.name:32s} {budget:6s} {time_notebook(path, budget):7.1f} s", flush=True)
    if args.evaluate:
        for recipe in ("digits", "shapes"):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "ddpm_from_scratch", "evaluate", "--recipe", recipe, "--quiet"],
                           check=True)
            print(f"evaluate --recipe {recipe}: {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
