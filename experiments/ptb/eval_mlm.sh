#!/usr/bin/env bash
# Test pseudo-perplexity of the PTB masked LMs, and their training summaries.
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${PTB:-/work/shared/data/ptb}
RUNS=experiments/ptb/runs
RESULTS=experiments/ptb/results
for run in mlm-small mlm-2x128; do
  /usr/bin/time -f "%e s wall" nice -n 19 python experiments/ptb/eval_mlm.py --model $RUNS/$run \
    --split test=$DATA/ptb.test.txt --output $RESULTS/$run.json
  python experiments/summarize_run.py $RUNS/$run --json $RESULTS/$run-train.json \
    --png $RESULTS/$run.png --title "PTB masked LM $run"
done
