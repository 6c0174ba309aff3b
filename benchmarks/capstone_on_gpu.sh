#!/usr/bin/env bash
# The capstone's `gpu` configuration (scenes64_latent) trained and measured in one call on a lent GPU
# (the workplace lends one for ~15 minutes, start-up included, at most 10 minutes a command):
#   1. train scenes64_latent, drawing the scenes in DATA_WORKERS processes, stopped with Ctrl-C (SIGINT) after
#      TRAIN_S seconds if its 5,500 steps are not done: the trainer checkpoints on SIGINT, so nothing is lost;
#   2. export the EMA weights at the step reached, in float16 (`train --resume --steps <reached> --half`);
#   3. evaluate them on 500 seen and 500 held-out prompts (the card's sampler: DDIM-50, eta = 1, guidance 5).
# What comes back under $OUT: logs, the card, the evaluation's JSON, the weights split into 15 MB pieces (the
# device returns files of at most 16 MiB): `cat scenes64_latent.pt.part-* > scenes64_latent.pt` joins them.
# The full checkpoint (with the optimiser's state) stays on the machine, in RUN.
#   DRY=1 bash benchmarks/capstone_on_gpu.sh     # the script itself on this CPU: 3 steps, 8 prompts per split
set -uo pipefail
OUT=${OUT:-/tmp/capstone_on_gpu}
RUN=${RUN:-/tmp/runs/scenes64_latent}
mkdir -p "$OUT" "$RUN"
export PYTHONPATH="$PWD:${PYTHONPATH:-}" PYTHONUNBUFFERED=1
if [ "${DRY:-0}" = 1 ]; then
    STEPS=(--steps 3) TRAIN_S=${TRAIN_S:-300} DATA_WORKERS=${DATA_WORKERS:-1} NUM_SAMPLES=8 DEVICE=(--device cpu)
else
    STEPS=() TRAIN_S=${TRAIN_S:-400} DATA_WORKERS=${DATA_WORKERS:-12} NUM_SAMPLES=500 DEVICE=()
fi
{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "no nvidia-smi"
    python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
    date
    resume=(); [ -f "$RUN/checkpoint.pt" ] && resume=(--resume)
    timeout -s INT "$TRAIN_S" python3 -m ddpm_from_scratch train --recipe scenes64_latent "${DEVICE[@]}" "${STEPS[@]}" \
        "${resume[@]}" --data-workers "$DATA_WORKERS" --quiet --out "$RUN"
    echo "train exit status $? (124 or 130: stopped at ${TRAIN_S} s, checkpointed)"
    reached=$(python3 -c "import torch; print(torch.load('$RUN/checkpoint.pt', weights_only=False)['step'])")
    echo "reached step $reached"
    python3 -m ddpm_from_scratch train --recipe scenes64_latent "${DEVICE[@]}" --resume --steps "$reached" --half \
        --data-workers "$DATA_WORKERS" --quiet --out "$RUN"
    date
    python3 -m ddpm_from_scratch evaluate --recipe scenes64_latent "${DEVICE[@]}" --checkpoint "$RUN/scenes64_latent.pt" \
        --num-samples "$NUM_SAMPLES" --quiet | tee "$OUT/evaluate.txt"
    tail -n 1 "$OUT/evaluate.txt" > "$OUT/metrics.json"
    cp "$RUN/scenes64_latent.json" "$OUT/"
    split -b 15M -d "$RUN/scenes64_latent.pt" "$OUT/scenes64_latent.pt.part-"
    sha256sum "$RUN/scenes64_latent.pt" | tee "$OUT/scenes64_latent.pt.sha256"
    date
} 2>&1 | tee "$OUT/log.txt"
