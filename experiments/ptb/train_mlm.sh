#!/usr/bin/env bash
# PTB word-level masked LM for the sampling experiment (generate.sh): BERT 2 layers x 128, a
# 20-minute wall budget on 2 CPU cores, run alone; then its test pseudo-perplexity (eval_mlm.sh).
# Usage: experiments/ptb/train_mlm.sh [RUN_DIR] [MINUTES]
#   (defaults experiments/ptb/runs/mlm-sampler, 20)
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${PTB:-/work/shared/data/ptb}
RUNS=experiments/ptb/runs
RUN=${1:-$RUNS/mlm-sampler}
export CI=1
[ -f $RUNS/tokenizer/tokenizer.json ] || textebm train tokenizer \
  --corpus $DATA/ptb.train.txt.gz --kind wordlevel --output $RUNS/tokenizer
# One sentence per example (context 128 holds every PTB sentence), 64 a step, batched by length
# (PTB lines are short and varied: less padding), 15% masking, LR 2e-3 decayed linearly to 0 at
# the budget's end; precision auto (bf16 where it runs faster, else fp32; the recorded run used
# bf16).
/usr/bin/time -f "%e s wall, %U s user" textebm train mlm \
  --corpus $DATA/ptb.train.txt.gz --validation $DATA/ptb.valid.txt --tokenizer $RUNS/tokenizer \
  --layers 2 --hidden-size 128 --heads 2 --intermediate-size 512 \
  --context-length 128 --batch-size 64 --group-by-length --dropout 0.1 --weight-decay 0.01 \
  --lr 2e-3 --warmup-fraction 0.05 --schedule linear --mixed-precision auto \
  --time-budget "${2:-20}" --max-steps 1000000 --eval-every 2000 --log-every 100 \
  --checkpoint-every 2000 --pll-examples 200 --output "$RUN"
