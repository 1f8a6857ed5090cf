#!/usr/bin/env bash
# Issue 14's "PTB unconditional generation, converged": the main rows of generate.sh (degenerate
# Gibbs, MH raw, MH norm, T = 1.0, lengths 10-15, the same seed and length draws) with 40 chains,
# not 32: seed 0's 32 draws give length 14 one chain, and R-hat needs two (the first 32 of the 40
# draws are generate.sh's, and length 14 gets 3; `sample` refuses --until-rhat otherwise), run
# until the energy's split R-hat is <= 1.05 in every length group (checked every 10 sweeps past the
# 100-sweep minimum, drawing no random numbers), capped at 3,000 sweeps and 90 minutes a sampler
# (MINUTES_PER_SAMPLER=N sets another time cap);
# each NAME.diagnostics.json says whether R-hat or a cap stopped it, and after how many sweeps.
# Then eval_samples.py scores them (the samples of the second half of the sweeps past the burn-in)
# into one table beside generate.sh's recorded 100-sweep rows: sweeps run, what stopped them, and
# R-hat as the worst length group's split R-hat (the recorded rows' from the stopping rule's check
# at sweep 100 when the first 100 sweeps reproduce them). Run it alone.
# Trains the PTB masked LM (20 min) and causal LM (30 min) first when they are not there.
# Usage: experiments/ptb/converged.sh [OUT_DIR]  (about 50 min of training + up to 4.5 h sampling)
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=experiments/ptb/runs
MLM=$RUNS/mlm-sampler
CLM=$RUNS/clm-quiet-2
OUT=${1:-$RUNS/samples-converged}
[ -f "$MLM/config.json" ] || experiments/ptb/train_mlm.sh "$MLM"
[ -f "$CLM/config.json" ] || experiments/ptb/train_clm.sh "$CLM"
mkdir -p "$OUT"
export CI=1
COMMON=(--model "$MLM" --length 10-15 --chains 40 --seed 0 --device cpu --temperature 1.0)
UNTIL=(--burn-in 20 --sweeps 100 --thin 10 --until-rhat 1.05 --check-every 10
       --max-sweeps 3000 --time-budget "${MINUTES_PER_SAMPLER:-90}")
run() {  # NAME, then the sample arguments; skips a sampler already done
  local name=$1; shift
  [ -f "$OUT/$name.jsonl" ] && return
  local begin=$SECONDS
  textebm sample "${COMMON[@]}" "${UNTIL[@]}" "$@" -o "$OUT/$name.jsonl"
  echo "$name $((SECONDS - begin)) s" | tee -a "$OUT/timings.txt"
}
run gibbs-T1.0 --sampler gibbs
run mh-raw-T1.0 --sampler mh --energy raw
run mh-norm-T1.0 --sampler mh --energy norm
python experiments/ptb/eval_samples.py --samples "$OUT" --clm "$CLM" \
  --data /work/shared/data/ptb/ptb.test.txt --beside experiments/ptb/results/generation.json \
  --second-half --json experiments/ptb/results/generation-converged.json \
  --table experiments/ptb/results/generation-converged.md
# the samplers' own diagnostics (stopping: sweeps, stopped_by, every check) go into git too
mkdir -p experiments/ptb/results/generation-converged
cp "$OUT"/*.diagnostics.json "$OUT"/timings.txt experiments/ptb/results/generation-converged/
