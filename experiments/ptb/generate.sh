#!/usr/bin/env bash
# Unconditional generation from the PTB masked LM (issue 4's experiment, the paper's Tables 2 and 4
# at small scale): degenerate Gibbs, Mask-Predict, MH raw, MH norm and block MH, at target
# temperatures 1.0 / 0.8 / 0.5 (proposals at the same temperature), lengths 10-15 words drawn
# per chain (the same draws for every sampler: same seed), 32 chains, 20 burn-in sweeps + 100
# sweeps, every 10th kept. Then eval_samples.py scores them. Run alone on the machine.
# Usage: experiments/ptb/generate.sh [MLM_DIR] [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
MLM=${1:-experiments/ptb/runs/mlm-sampler}
OUT=${2:-experiments/ptb/runs/samples}
mkdir -p "$OUT"
export CI=1
COMMON=(--model "$MLM" --length 10-15 --chains 32 --seed 0 --device cpu)
CHAIN=(--burn-in 20 --sweeps 100 --thin 10)
timed() {  # NAME, then the sample arguments; skips a configuration already done
  local name=$1; shift
  [ -f "$OUT/$name.jsonl" ] && return
  local begin=$SECONDS
  textebm sample "${COMMON[@]}" "$@" -o "$OUT/$name.jsonl"
  echo "$name $((SECONDS - begin)) s" | tee -a "$OUT/timings.txt"
}
timed mask-predict-argmax --sampler mask-predict --sweeps 10 --decode argmax
for T in 1.0 0.8 0.5; do
  timed "gibbs-T$T" --sampler gibbs --temperature "$T" "${CHAIN[@]}"
  timed "mask-predict-sample-T$T" --sampler mask-predict --sweeps 10 --decode sample \
    --temperature "$T"
  timed "mh-raw-T$T" --sampler mh --energy raw --temperature "$T" "${CHAIN[@]}"
  timed "mh-norm-T$T" --sampler mh --energy norm --temperature "$T" "${CHAIN[@]}"
  timed "block-mh-raw-T$T" --sampler mh --energy raw --block-size 4 --temperature "$T" \
    "${CHAIN[@]}"
done
