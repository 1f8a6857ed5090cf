#!/usr/bin/env bash
# The short arithmetic check of issue 13's backspace loop: a small MLE model (2 x 64, 1,000
# steps), then BC and SequenceMatch-chi^2 fine-tunes (200 steps, batch 32) at noise 0.1 over the
# square weight w, and at noise 0.3 for w = 0.5 and 0.05. About 6 minutes on one core.
#   OMP_NUM_THREADS=1 bash experiments/arithmetic/backspace_loop_check.sh
set -euo pipefail
run=experiments/arithmetic/runs/loop-check
out=experiments/arithmetic/results/loop-check
common=(--run "$run" --train 5000 --layers 2 --hidden 64 --mle-steps 1000 --batch-size 32
        --finetune-steps 200 --bc-warmup 40 --sample-every 20)
for w in 0.5 0.2 0.1 0.05 0.02; do
  python experiments/arithmetic/sequencematch_arithmetic.py "${common[@]}" --noise 0.1 \
    --square-weight "$w" --out "$out/noise0.1-w$w"
done
for w in 0.5 0.05; do
  python experiments/arithmetic/sequencematch_arithmetic.py "${common[@]}" --noise 0.3 \
    --square-weight "$w" --out "$out/noise0.3-w$w"
done
