"""Time every chapter notebook at a budget, and the `evaluate` command.

    python benchmarks/chapters.py --budget smoke cpu      # prints one line per notebook and budget
    python benchmarks/chapters.py --budget cpu --only 03   # only the notebooks whose name contains "03"
    python benchmarks/chapters.py --budget cpu --only 04 --slowest 8   # and where its time went, by cell
    python benchmarks/chapters.py --budget smoke cpu --write   # also store them where the chapters read them
    python benchmarks/chapters.py --budget gpu --plain --parallel --json times.json   # a GPU box, no Jupyter
    python benchmarks/chapters.py --merge times.json       # store times measured elsewhere

``--write`` merges the measured times into ``ddpm_from_scratch/run_times.json``, which each
chapter's first cell prints (``budget.run_times``), with the machine each budget was measured on.
``--plain`` runs the code cells in a fresh Python process without a Jupyter kernel (for machines that
have torch but not Jupyter); ``IPython.display`` is replaced by a printing stand-in where IPython is
missing. ``--parallel`` runs the chapters at the same time, so they share the device: each time is
then an upper bound on the chapter alone, and the stored times say so.

A benchmark, not a test: it prints figures and never fails on time.
"""

import argparse
import concurrent.futures
import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUN_TIMES = ROOT / "ddpm_from_scratch" / "run_times.json"


def time_notebook(path: Path, budget: str, slowest: int = 0) -> float:
    import nbformat
    from nbclient import NotebookClient

    os.environ.update(DDPM_BUDGET=budget, TQDM_DISABLE="1", MPLBACKEND="Agg")
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=1200, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    seconds = time.perf_counter() - start
    if slowest:  # where the time went: nbclient stamps each cell's start and end in its metadata
        stamp = lambda cell, key: datetime.datetime.fromisoformat(cell.metadata["execution"][key].rstrip("Z"))
        cells = [((stamp(cell, "shell.execute_reply") - stamp(cell, "iopub.execute_input")).total_seconds(), index)
                 for index, cell in enumerate(nb.cells) if "execution" in cell.metadata]
        for cell_seconds, index in sorted(cells, reverse=True)[:slowest]:
            first_line = next((line for line in nb.cells[index].source.splitlines() if line.strip()), "")
            print(f"  cell {index:3d} {cell_seconds:7.1f} s  {first_line[:70]}", flush=True)
    return seconds


IPYTHON_STAND_IN = '''
import sys, types
try:
    import IPython.display
except ImportError:  # no Jupyter here: display() prints what a page would show
    display_module = types.ModuleType("IPython.display")
    class _Shown:
        def __init__(self, data=None, *args, **kwargs):
            self.data = data
        def __repr__(self):
            return str(self.data)
    for name in ("Markdown", "HTML", "Image", "Latex"):
        setattr(display_module, name, type(name, (_Shown,), {}))
    display_module.display = lambda *objects, **kwargs: [print(repr(o)) for o in objects]
    sys.modules["IPython"] = types.ModuleType("IPython")
    sys.modules["IPython"].display = display_module
    sys.modules["IPython"].get_ipython = lambda: None  # matplotlib asks: not inside IPython
    sys.modules["IPython"].version_info = (8, 24, 0)
    sys.modules["IPython.display"] = display_module
'''


def run_cells_plain(path: Path) -> None:
    """Run the code cells of ``path`` in this process, in order; print each slow cell's time."""
    exec(IPYTHON_STAND_IN, {})
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = json.loads(path.read_text())["cells"]
    namespace = {"__name__": "__main__", "display": sys.modules["IPython.display"].display}
    os.chdir(path.parent)
    for index, cell in enumerate(cells):
        if cell["cell_type"] != "code":
            continue
        start = time.perf_counter()
        exec(compile("".join(cell["source"]), f"{path.name}[{index}]", "exec"), namespace)
        plt.close("all")
        seconds = time.perf_counter() - start
        if seconds >= 2:
            print(f"# {path.name} cell {index}: {seconds:.1f} s", file=sys.stderr, flush=True)
    import torch

    if torch.cuda.is_initialized():
        print(f"# {path.name}: peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB",
              file=sys.stderr, flush=True)


def time_notebook_plain(path: Path, budget: str, timeout: float, log_dir: Path | None,
                        threads: int | None = None) -> float | None:
    """Seconds to run ``path`` with ``--run-plain`` in a child process; None if it failed or timed out."""
    env = dict(os.environ, DDPM_BUDGET=budget, TQDM_DISABLE="1", MPLBACKEND="Agg",
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    if threads:  # chapters run side by side share the cores instead of each taking all of them
        env["OMP_NUM_THREADS"] = str(threads)
    log = open(log_dir / f"{path.stem}.{budget}.log", "w") if log_dir else subprocess.DEVNULL
    start = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, __file__, "--run-plain", str(path)], env=env, timeout=timeout,
                              stdout=log, stderr=subprocess.STDOUT)
    except subprocess.TimeoutExpired:
        print(f"{path.name}: still running after {timeout:.0f} s, stopped", flush=True)
        return None
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        print(f"{path.name}: failed (exit {done.returncode}; see its log)", flush=True)
        return None
    return seconds


def hardware_name(budget: str) -> str:
    import torch

    from ddpm_from_scratch.budget import cpu_model

    if budget == "gpu" and torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)} GPU, {os.cpu_count()} CPU cores"
    threads = os.environ.get("OMP_NUM_THREADS") or str(os.cpu_count())
    return f"{cpu_model()} CPU, {os.cpu_count()} cores, {threads} threads"  # CPU models differ ~2x in speed


def store(measured: dict, measured_on: dict, some_chapters: bool = False) -> None:
    """Merge ``measured`` ({chapter: {budget: seconds}}) into run_times.json. A budget measured on
    another machine or torch replaces all of that budget's old times; on the same one, only the
    chapters measured now, and with ``some_chapters`` (``--only``) the budget's command keeps how
    the others were measured."""
    stored = json.loads(RUN_TIMES.read_text()) if RUN_TIMES.exists() else {}
    chapters, where = stored.get("chapters", {}), stored.get("measured_on", {})
    same = lambda old, new: all(old.get(key) == new.get(key) for key in ("hardware", "torch", "note"))
    for budget, machine in measured_on.items():
        old = where.get(budget, {})
        if not same(old, machine):
            for times in chapters.values():
                times.pop(budget, None)
        elif some_chapters and old.get("command"):
            machine["command"] = f"{old['command']}; then {machine['command']}"
    where.update(measured_on)
    for chapter, times in measured.items():
        chapters.setdefault(chapter, {}).update(times)
    RUN_TIMES.write_text(json.dumps({"measured_on": where, "chapters": dict(sorted(chapters.items()))},
                                    indent=2) + "\n")
    print(f"wrote {RUN_TIMES}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", nargs="+", default=["smoke", "cpu"])
    parser.add_argument("--only", default="", help="time only the notebooks whose file name contains this")
    parser.add_argument("--write", action="store_true", help="store the times in ddpm_from_scratch/run_times.json")
    parser.add_argument("--plain", action="store_true", help="run code cells without a Jupyter kernel")
    parser.add_argument("--parallel", action="store_true", help="run the chapters at once (with --plain)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per chapter (with --plain)")
    parser.add_argument("--logs", type=Path, help="folder for each chapter's output (with --plain)")
    parser.add_argument("--slowest", type=int, default=0, help="also print each chapter's N slowest cells")
    parser.add_argument("--json", type=Path, help="also write the times and machine to this file")
    parser.add_argument("--merge", type=Path, help="store the times of a --json file in run_times.json")
    parser.add_argument("--run-plain", type=Path, help=argparse.SUPPRESS)  # the child process of --plain
    parser.add_argument("--evaluate", action="store_true",
                        help="also time `evaluate --recipe digits` and `evaluate --recipe shapes`")
    args = parser.parse_args()
    if args.slowest and args.plain:
        parser.error("--slowest reads the cell times nbclient records; --plain runs the cells without it")
    if args.run_plain:
        return run_cells_plain(args.run_plain.resolve())
    if args.merge:
        saved = json.loads(args.merge.read_text())
        return store(saved["chapters"], saved["measured_on"])
    import torch

    if args.logs:
        args.logs.mkdir(parents=True, exist_ok=True)
    paths = sorted(p for p in (ROOT / "book").glob("[0-9][0-9]_*.ipynb") if args.only in p.name)
    measured, measured_on = {}, {}
    for budget in args.budget:
        measured_on[budget] = {"hardware": hardware_name(budget), "torch": torch.__version__,
                               "date": datetime.date.today().isoformat(),
                               "command": "python benchmarks/chapters.py " + " ".join(sys.argv[1:])}
        if args.parallel and len(paths) > 1:
            measured_on[budget]["note"] = f"{len(paths)} chapters run at once, sharing the device: upper bounds"
        print(measured_on[budget]["hardware"], flush=True)
        workers = len(paths) if args.parallel and args.plain else 1
        if args.plain:
            threads = max(1, (os.cpu_count() or 1) // workers) if workers > 1 else None
            run = lambda path: time_notebook_plain(path, budget, args.timeout, args.logs, threads)
        else:
            run = lambda path: time_notebook(path, budget, args.slowest)
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(workers, 1)) as pool:
            for path, seconds in zip(paths, pool.map(run, paths)):
                if seconds is not None:
                    measured.setdefault(path.name[:2], {})[budget] = round(seconds, 1)
                    print(f"{path.name:32s} {budget:6s} {seconds:7.1f} s", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"measured_on": measured_on, "chapters": measured}, indent=2) + "\n")
    if args.write:
        store(measured, measured_on, some_chapters=bool(args.only))
    if args.evaluate:
        for recipe in ("digits", "shapes"):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "ddpm_from_scratch", "evaluate", "--recipe", recipe, "--quiet"],
                           check=True)
            print(f"evaluate --recipe {recipe}: {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
