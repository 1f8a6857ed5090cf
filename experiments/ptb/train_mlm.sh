#!/usr/bin/env bash
# PTB word-level masked LMs: the 4 x 256 model (15-minute wall budget) and a 2 x 128 one for
# sampling experiments (5-minute wall budget), then their test pseudo-perplexity.
# Usage: experiments/ptb/train_mlm.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${PTB:-/work/shared/data/ptb}
RUNS=experiments/ptb/runs
RESULTS=experiments/ptb/results
export CI=1
[ -f $RUNS/tokenizer/tokenizer.json ] || nice -n 19 textebm train tokenizer \
  --corpus $DATA/ptb.train.txt.gz --kind wordlevel --output $RUNS/tokenizer
COMMON="--corpus $DATA/ptb.train.txt.gz --validation $DATA/ptb.valid.txt --tokenizer $RUNS/tokenizer
  --context-length 128 --batch-size 64 --dropout 0.1 --weight-decay 0.01 --warmup-fraction 0.05
  --schedule linear --mixed-precision bf16 --max-steps 100000 --log-every 50 --pll-examples 200"
if [ "${SKIP_SMALL:-0}" != 1 ]; then
  /usr/bin/time -f "%e s wall, %U s user" nice -n 19 textebm train mlm $COMMON --preset small \
    --lr 1e-3 --time-budget 15 --eval-every 1000 --checkpoint-every 1000 --output $RUNS/mlm-small
fi
/usr/bin/time -f "%e s wall, %U s user" nice -n 19 textebm train mlm $COMMON --layers 2 \
  --hidden-size 128 --heads 2 --intermediate-size 512 --lr 2e-3 \
  --time-budget 5 --eval-every 1000 --checkpoint-every 1000 --output $RUNS/mlm-2x128
