#!/usr/bin/env bash
# TinyStories (the 4,300-document validation subset, 10% held out): BPE tokenizer, a small causal
# LM and a small masked LM on short wall-clock budgets, then held-out perplexities.
# Usage: experiments/tinystories/train.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=experiments/tinystories/runs
RESULTS=experiments/tinystories/results
mkdir -p $RESULTS
export CI=1
experiments/tinystories/prepare.sh
COMMON="--corpus $RUNS/data/train.txt --validation $RUNS/data/valid.txt --tokenizer $RUNS/tokenizer
  --preset small --dropout 0.2 --weight-decay 0.1 --warmup-fraction 0.05 --schedule linear
  --mixed-precision auto --max-steps 100000 --log-every 25 --eval-every 250 --checkpoint-every 500"
/usr/bin/time -f "%e s wall, %U s user" nice -n 19 textebm train clm $COMMON \
  --context-length 128 --batch-size 16 --lr 2e-3 --time-budget ${CLM_MINUTES:-8} \
  --output $RUNS/clm-small
/usr/bin/time -f "%e s wall, %U s user" nice -n 19 textebm train mlm $COMMON \
  --context-length 256 --batch-size 16 --lr 1e-3 --time-budget ${MLM_MINUTES:-8} \
  --pll-examples 100 --output $RUNS/mlm-small
nice -n 19 python experiments/ptb/eval_clm.py --model $RUNS/clm-small \
  --split valid=$RUNS/data/valid.txt --stride 64 --output $RESULTS/clm-small.json
nice -n 19 python experiments/ptb/eval_mlm.py --model $RUNS/mlm-small \
  --split valid=$RUNS/data/valid.txt --output $RESULTS/mlm-small.json
for run in clm-small mlm-small; do
  python experiments/summarize_run.py $RUNS/$run --json $RESULTS/$run-train.json \
    --png $RESULTS/$run.png --title "TinyStories $run"
done
