"""Measure a shipped model with several samplers, one `evaluate` run each, and keep the rows on its card.

    python scripts/sweep_samplers.py --recipe digits "--sampler ddim --steps 100" "--sampler dpm++2m --steps 20"
    python scripts/sweep_samplers.py --recipe scenes64_latent "--steps 50" "--sampler dpm++2m-sde --steps 20" --write

Each quoted argument is one run's options for ``python -m ddpm_from_scratch evaluate --recipe RECIPE``; every run
keeps evaluate's defaults otherwise (the same seed, so the same prompts and starting noise for every sampler).
Prints one row a run; ``--write`` stores the rows in the card's ``sampler_sweep`` (a row measured again with
the same command replaces the old one). Run it alone on the machine: the wall times are part of the result.
"""

import argparse
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from ddpm_from_scratch.budget import cpu_model  # noqa: E402
from ddpm_from_scratch.checkpoints import write_card  # noqa: E402

CARDS = ROOT / "ddpm_from_scratch" / "checkpoints"
LEFT_OUT = ("checkpoint", "wall_time_s", "class_counts", "per_attribute", "per_relation")  # too long for a row


def measure(recipe: str, options: str) -> dict:
    command = f"python -m ddpm_from_scratch evaluate --recipe {recipe} --quiet {options}"
    done = subprocess.run([sys.executable, *shlex.split(command)[1:]], cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{command} failed:\n{done.stderr.strip()}")
    results = json.loads(done.stdout.strip().splitlines()[-1])
    row = {"sampler": results.get("sampler", "ddim")} | {k: v for k, v in results.items() if k not in LEFT_OUT}
    threads = os.environ.get("OMP_NUM_THREADS") or os.cpu_count()
    return row | {"command": command.replace(" --quiet", ""), "hardware": f"{cpu_model()} CPU, {threads} threads"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", required=True)
    parser.add_argument("runs", nargs="+", help='one quoted string of evaluate options per run')
    parser.add_argument("--write", action="store_true", help="store the rows in the card's sampler_sweep")
    args = parser.parse_args()
    rows = []
    for options in args.runs:
        rows.append(measure(args.recipe, options))
        print(json.dumps(rows[-1]), flush=True)
    if args.write:
        path = CARDS / f"{args.recipe}.json"
        card = json.loads(path.read_text())
        commands = {row["command"] for row in rows}
        card["sampler_sweep"] = [row for row in card.get("sampler_sweep", []) if row.get("command") not in commands] + rows
        write_card(card, path)


if __name__ == "__main__":
    main()
