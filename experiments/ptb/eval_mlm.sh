#!/usr/bin/env bash
# Test pseudo-perplexity of a PTB masked LM and its training summary.
# Usage: experiments/ptb/eval_mlm.sh [RUN_NAME] (default mlm-sampler, under experiments/ptb/runs)
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${PTB:-/work/shared/data/ptb}
RUNS=experiments/ptb/runs
RESULTS=experiments/ptb/results
run=${1:-mlm-sampler}
/usr/bin/time -f "%e s wall" python experiments/ptb/eval_mlm.py --model $RUNS/$run \
  --split test=$DATA/ptb.test.txt --output $RESULTS/$run.json
python experiments/summarize_run.py $RUNS/$run --json $RESULTS/$run-train.json \
  --png $RESULTS/$run.png --title "PTB masked LM $run"
