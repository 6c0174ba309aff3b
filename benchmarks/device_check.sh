#!/usr/bin/env bash
# The GPU check, in one run on a machine with one CUDA GPU and no Jupyter (the workplace's lent GPU):
#   1. benchmarks/peers.py: our U-Net against diffusers' at equal widths, bf16, 16x16x1 to 64x64x3;
#   2. every chapter at DDPM_BUDGET=gpu, code cells run without a kernel, the five at once on the one
#      GPU (benchmarks/chapters.py --plain --parallel): each time is an upper bound on the chapter alone.
# Wheels the machine lacks (diffusers and what it needs, mlxtend) travel in .whl/ (git-ignored):
#   pip download --no-deps -d .whl diffusers==0.42.1 importlib_metadata lazy-importer mlxtend==0.25.0
# Everything it prints lands in $OUT/logs; `python benchmarks/chapters.py --merge <gpu_times.json>` stores
# the chapter times where the chapters' setup cells read them.
set -uo pipefail
OUT=${OUT:-/tmp/device_check}
mkdir -p "$OUT/logs"
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        && export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD:${PYTHONPATH:-}" PYTHONUNBUFFERED=1
{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
    python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0), torch.get_num_threads(), 'threads')"
    timeout "${PEERS_TIMEOUT:-120}" python3 benchmarks/peers.py --repeats 20
} 2>&1 | tee "$OUT/logs/peers.txt"
python3 benchmarks/chapters.py --budget gpu --plain --parallel --timeout "${CHAPTER_TIMEOUT:-430}" \
    --logs "$OUT/logs" --json "$OUT/logs/gpu_times.json"
