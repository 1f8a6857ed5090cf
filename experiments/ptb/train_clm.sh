#!/usr/bin/env bash
# PTB word-level causal LM under a 30-minute wall-clock budget on 2 CPU cores (run it alone:
# on 2 cores any other job halves or worse what it gets).
# Usage: experiments/ptb/train_clm.sh [RUN_DIR [FLAG...]] (default experiments/ptb/runs/clm-quiet-2);
# extra flags override the recipe's below (argparse keeps the last value given).
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${PTB:-/work/shared/data/ptb}
RUNS=experiments/ptb/runs
RUN=${1:-$RUNS/clm-quiet-2}
shift || true
export CI=1  # no progress bar in the log
[ -f $RUNS/tokenizer/tokenizer.json ] || textebm train tokenizer \
  --corpus $DATA/ptb.train.txt.gz --kind wordlevel --output $RUNS/tokenizer
# 4 layers x 256 (tied input/output embeddings, GPT-2's default), context 128, 16 blocks
# (2,048 tokens) a step, dropout 0.1, torch.compile (its compile time counts), peak LR 3e-3,
# 3% warm-up then linear decay to 0 at the 30-minute mark. Precision auto: bf16 autocast only
# where it runs faster (a GPU with native bf16, a CPU with AMX), else fp32; the recorded runs
# used bf16 on a CPU without AMX, where fp32 trains ~1.5x the tokens/s (issue 8). The run's
# sessions.jsonl records the precision, the tokens trained and the measured matmul rate.
# The session-2 run `clm-quiet` was: train_clm.sh RUN --dropout 0.2 --lr 2e-3 --eval-every 500
/usr/bin/time -v textebm train clm \
  --corpus $DATA/ptb.train.txt.gz --validation $DATA/ptb.valid.txt --tokenizer $RUNS/tokenizer \
  --preset small --context-length 128 --batch-size 16 --dropout 0.1 --weight-decay 0.1 \
  --lr 3e-3 --warmup-fraction 0.03 --schedule linear --mixed-precision auto --compile \
  --time-budget 30 --max-steps 100000 --eval-every 1000 --log-every 50 --checkpoint-every 1000 \
  --output "$RUN" "$@"
