#!/usr/bin/env bash
# PTB word-level causal LM under a 30-minute wall-clock budget on 2 CPU cores.
# Usage: experiments/ptb/train_clm.sh [RUN_DIR] (default experiments/ptb/runs/clm-30min)
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${PTB:-/work/shared/data/ptb}
RUNS=experiments/ptb/runs
RUN=${1:-$RUNS/clm-30min}
export CI=1  # no progress bar in the log
[ -f $RUNS/tokenizer/tokenizer.json ] || nice -n 19 textebm train tokenizer \
  --corpus $DATA/ptb.train.txt.gz --kind wordlevel --output $RUNS/tokenizer
# 4 layers x 256 (tied input/output embeddings, GPT-2's default), context 64, 2048 tokens a step,
# bf16 autocast, peak LR 2e-3, 3% warm-up then linear decay to 0 at the 30-minute mark.
/usr/bin/time -v nice -n 19 textebm train clm \
  --corpus $DATA/ptb.train.txt.gz --validation $DATA/ptb.valid.txt --tokenizer $RUNS/tokenizer \
  --preset small --context-length 64 --batch-size 32 --dropout 0.1 --weight-decay 0.1 \
  --lr 2e-3 --warmup-fraction 0.03 --schedule linear --mixed-precision bf16 \
  --time-budget 30 --max-steps 100000 --eval-every 500 --log-every 50 --checkpoint-every 500 \
  --output "$RUN"
