#!/usr/bin/env bash
# The capstone's `gpu` configuration (scenes64_latent) trained and measured in one call on a lent GPU
# (the workplace lends one for ~15 minutes, start-up included, at most 10 minutes a command):
#   1. train scenes64_latent, drawing the scenes in DATA_WORKERS processes, stopped with Ctrl-C (SIGINT) after
#      TRAIN_S seconds if its MAX_STEPS are not done: the trainer checkpoints on SIGINT, so nothing is lost;
#   2. export the EMA weights at the step reached, in float16 (`train --resume --steps <reached> --half`);
#   3. evaluate them on 500 seen and 500 held-out prompts (the card's sampler: DDIM-50, eta = 1, guidance 5) and
#      write the figures into the card (`evaluate --write-card`).
# The learning rate is constant after its warm-up, so the run asks for MAX_STEPS (more than TRAIN_S allows) and the
# step it reached is the one exported and recorded in the card. If the training fails before its first checkpoint
# (say the data workers cannot start on that machine), it is started again without workers for the time left.
# What comes back under $OUT: logs, the card, the evaluation's JSON, the weights split into 15 MB pieces (the
# device returns files of at most 16 MiB; they are split before the evaluation, so they come back even if it
# fails): `cat scenes64_latent.pt.part-* > scenes64_latent.pt` joins them.
# The full checkpoint (with the optimiser's state) stays on the machine, in RUN.
#   DRY=1 bash benchmarks/capstone_on_gpu.sh     # the script itself on this CPU: 3 steps, 8 prompts per split
#   DRY=1 MAX_STEPS=1000 TRAIN_S=90 bash benchmarks/capstone_on_gpu.sh    # ... stopped by the clock (Ctrl-C)
# INIT_FROM=FILE starts the run from that checkpoint's weights (`train --init-from FILE --seed SEED_NUMBER`, 2 by
# default: other scenes than the earlier runs drew) instead of random ones: a lease can then train the shipped
# generator further, the card listing the runs behind that file, then this one (`runs`).
#   INIT_FROM=ddpm_from_scratch/checkpoints/scenes64_latent.pt bash benchmarks/capstone_on_gpu.sh
set -uo pipefail
OUT=${OUT:-/tmp/capstone_on_gpu}
RUN=${RUN:-/tmp/runs/scenes64_latent}
mkdir -p "$OUT" "$RUN"
export PYTHONPATH="$PWD:${PYTHONPATH:-}" PYTHONUNBUFFERED=1
if [ "${DRY:-0}" = 1 ]; then
    MAX_STEPS=${MAX_STEPS:-3} TRAIN_S=${TRAIN_S:-300} DATA_WORKERS=${DATA_WORKERS:-1} NUM_SAMPLES=8 DEVICE=(--device cpu)
else
    MAX_STEPS=${MAX_STEPS:-40000} TRAIN_S=${TRAIN_S:-430} DATA_WORKERS=${DATA_WORKERS:-12} NUM_SAMPLES=500 DEVICE=()
fi
SEED=(); START=()
if [ -n "${INIT_FROM:-}" ]; then
    SEED=(--seed "${SEED_NUMBER:-2}"); START=(--init-from "$INIT_FROM")
fi
train() {  # train WORKERS SECONDS
    local resume=("${START[@]}"); [ -f "$RUN/checkpoint.pt" ] && resume=(--resume)
    timeout -s INT -k 60 "$2" python3 -m ddpm_from_scratch train --recipe scenes64_latent "${DEVICE[@]}" \
        --steps "$MAX_STEPS" "${SEED[@]}" "${resume[@]}" --data-workers "$1" --quiet --out "$RUN"
    echo "train exit status $? with $1 data workers (124 or 130: stopped at $2 s, checkpointed)"
}
{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "no nvidia-smi"
    python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
    date
    started=$SECONDS
    train "$DATA_WORKERS" "$TRAIN_S"
    if [ ! -f "$RUN/checkpoint.pt" ] && [ "$DATA_WORKERS" != 0 ]; then
        train 0 $((TRAIN_S - (SECONDS - started)))
    fi
    date
    reached=$(python3 -c "import torch; print(torch.load('$RUN/checkpoint.pt', weights_only=False)['step'])")
    echo "reached step $reached"
    python3 -m ddpm_from_scratch train --recipe scenes64_latent "${DEVICE[@]}" --resume --steps "$reached" --half "${SEED[@]}" \
        --data-workers "$DATA_WORKERS" --quiet --out "$RUN"
    split -b 15M -d "$RUN/scenes64_latent.pt" "$OUT/scenes64_latent.pt.part-"
    sha256sum "$RUN/scenes64_latent.pt" | tee "$OUT/scenes64_latent.pt.sha256"
    cp "$RUN/scenes64_latent.json" "$OUT/"
    date
    python3 -m ddpm_from_scratch evaluate --recipe scenes64_latent "${DEVICE[@]}" --checkpoint "$RUN/scenes64_latent.pt" \
        --num-samples "$NUM_SAMPLES" --write-card --quiet | tee "$OUT/evaluate.txt"
    tail -n 1 "$OUT/evaluate.txt" > "$OUT/metrics.json"
    cp "$RUN/scenes64_latent.json" "$OUT/"
    date
} 2>&1 | tee "$OUT/log.txt"
