"""Time every chapter notebook at a budget, and the `evaluate` command.

    python benchmarks/chapters.py --budget smoke cpu      # prints one line per notebook and budget
    python benchmarks/chapters.py --budget cpu --only 03   # only the notebooks whose name contains "03"
    python benchmarks/chapters.py --budget smoke cpu --write   # also store them where the chapters read them

``--write`` merges the measured times into ``ddpm_from_scratch/run_times.json``, which each
chapter's first cell prints (``budget.run_times``), with the hardware they were measured on.

A benchmark, not a test: it prints figures and never fails on time.
"""

import argparse
import datetime
import json
import os
import platform
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
    parser.add_argument("--write", action="store_true", help="store the times in ddpm_from_scratch/run_times.json")
    parser.add_argument("--evaluate", action="store_true",
                        help="also time `evaluate --recipe digits` and `evaluate --recipe shapes`")
    args = parser.parse_args()
    import torch

    threads = os.environ.get("OMP_NUM_THREADS") or str(os.cpu_count())
    hardware = f"{platform.processor() or platform.machine()} CPU, {os.cpu_count()} cores, {threads} threads"
    print(hardware)
    measured = {}
    for budget in args.budget:
        for path in sorted(p for p in (ROOT / "book").glob("[0-9][0-9]_*.ipynb") if args.only in p.name):
            seconds = time_notebook(path, budget)
            measured.setdefault(path.name[:2], {})[budget] = round(seconds, 1)
            print(f"{path.name:32s} {budget:6s} {seconds:7.1f} s", flush=True)
    if args.write:
        target = ROOT / "ddpm_from_scratch" / "run_times.json"
        stored = json.loads(target.read_text()) if target.exists() else {}
        # times from other hardware or another torch are not mixed with these: they are dropped
        same = stored.get("hardware") == hardware and stored.get("torch") == torch.__version__
        chapters = stored.get("chapters", {}) if same else {}
        for chapter, times in measured.items():
            chapters.setdefault(chapter, {}).update(times)
        target.write_text(json.dumps({"hardware": hardware, "torch": torch.__version__,
                                      "date": datetime.date.today().isoformat(),
                                      "command": "python benchmarks/chapters.py " + " ".join(sys.argv[1:]),
                                      "chapters": dict(sorted(chapters.items()))}, indent=2) + "\n")
        print(f"wrote {target}")
    if args.evaluate:
        for recipe in ("digits", "shapes"):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "ddpm_from_scratch", "evaluate", "--recipe", recipe, "--quiet"],
                           check=True)
            print(f"evaluate --recipe {recipe}: {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
