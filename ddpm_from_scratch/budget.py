"""How much work a notebook does, and on which device (used by every chapter).

One setting, the environment variable ``DDPM_BUDGET``, decides the compute budget:

- ``smoke``: every code path runs, in seconds (CI);
- ``cpu``: minutes per chapter on a laptop CPU (the book build);
- ``gpu``: the real thing (Colab, a workstation).

Unset, it is ``gpu`` when CUDA is available and ``cpu`` otherwise. Notebooks ask
``by_budget(smoke=..., cpu=..., gpu=...)`` and never keep their own "fast mode".
"""

import json
import os
import platform
from pathlib import Path

import torch

RUN_TIMES = Path(__file__).with_name("run_times.json")  # written by benchmarks/chapters.py --write

BUDGETS = ("smoke", "cpu", "gpu")


def get_budget() -> str:
    """The current budget name: ``DDPM_BUDGET`` if set, else ``gpu``/``cpu`` by hardware."""
    name = os.environ.get("DDPM_BUDGET", "").strip().lower()
    if not name:
        return "gpu" if torch.cuda.is_available() else "cpu"
    if name not in BUDGETS:
        raise ValueError(
            f"DDPM_BUDGET={name!r} is not a budget; use one of {', '.join(BUDGETS)} "
            "(or unset it to choose by hardware)"
        )
    return name


def by_budget(*, smoke, cpu, gpu):
    """Pick the value for the current budget, e.g. ``steps = by_budget(smoke=20, cpu=2000, gpu=20000)``."""
    return {"smoke": smoke, "cpu": cpu, "gpu": gpu}[get_budget()]


def device_present(kind: str) -> bool:
    """Whether this machine has a device of type ``kind`` ("cpu", "cuda", "mps")."""
    if kind == "cuda":
        return torch.cuda.is_available()
    if kind == "mps":
        return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    return kind == "cpu"


def default_device() -> torch.device:
    """CUDA if present, then Apple's MPS, then the CPU."""
    return torch.device(next(kind for kind in ("cuda", "mps", "cpu") if device_present(kind)))


def _seconds(value: float) -> str:
    return f"{value / 60:.1f} min" if value >= 60 else f"{value:.0f} s"


def run_times(chapter: str) -> str:
    """How long ``chapter`` ("01", ...) took to run top to bottom at each budget, as measured by
    ``benchmarks/chapters.py --write``, with the machine each budget was measured on (one line;
    says so when a budget was not measured)."""
    measured = json.loads(RUN_TIMES.read_text()) if RUN_TIMES.exists() else {}
    times = measured.get("chapters", {}).get(chapter, {})
    where = measured.get("measured_on", {})
    if not any(budget in times for budget in BUDGETS):
        return f"run time of chapter {chapter}: not measured yet (python benchmarks/chapters.py --write)"
    groups = {}  # budgets measured on the same machine share one "on ..." clause
    for budget in BUDGETS:
        if budget in times:
            on = where.get(budget, {})
            key = (on.get("hardware", "unknown hardware"), on.get("torch", "?"), on.get("date", "?"), on.get("note"))
            groups.setdefault(key, []).append(f"{budget} {_seconds(times[budget])}")
    clauses = [f"{', '.join(parts)} on {hardware} (torch {torch_version}, {date}{'; ' + note if note else ''})"
               for (hardware, torch_version, date, note), parts in groups.items()]
    missing = [budget for budget in BUDGETS if budget not in times]
    return ("run time of this chapter, top to bottom: " + "; ".join(clauses)
            + (f"; {' and '.join(missing)}: not measured yet" if missing else ""))


def setup(seed: int = 0, chapter: str | None = None):
    """The first cell of every chapter: seed the RNGs, report and return (budget, device); with ``chapter``,
    also say how long the chapter takes at each budget."""
    torch.manual_seed(seed)
    budget, device = get_budget(), default_device()
    print(f"compute budget: {budget} (set DDPM_BUDGET to smoke, cpu or gpu to change it); device: {device}")
    if chapter is not None:
        print(run_times(chapter))
    return budget, device


def progress_bar(iterable=None, enabled: bool = True, **kwargs):
    """A tqdm progress bar (widget in notebooks). ``enabled=False`` hides it; so does TQDM_DISABLE=1,
    which the book build sets, since a static page has no use for one."""
    if not enabled or os.environ.get("TQDM_DISABLE"):
        from tqdm import tqdm  # the plain class: tqdm.auto would warn in a kernel without ipywidgets

        return tqdm(iterable, disable=True, **kwargs)
    from tqdm.auto import tqdm

    return tqdm(iterable, **kwargs)


def cpu_model() -> str:
    """The CPU's model name ("AMD EPYC 9B14", "Intel(R) Xeon(R) Processor"), else its architecture: CPU kernels
    differ by model, so bit-for-bit reproduction holds on one model, not across them."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware(device) -> str:
    """What a card says ran it: the GPU's name, or the CPU's model and the threads torch uses."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{cpu_model()} CPU, {torch.get_num_threads()} threads"
