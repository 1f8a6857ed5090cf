#!/bin/sh
# The README's exactness tables (section "Sampling from a masked LM's energy"), recorded:
# `textebm verify` and `textebm verify --top-k 2`, their full output, the time and the load.
# Usage, from the repository root with the venv active: sh experiments/verify/run.sh
cd "$(dirname "$0")/../.." || exit 1
out=experiments/verify/results
mkdir -p "$out"
for flags in "" "--top-k 2"; do
  name=verify${flags:+-$(echo "$flags" | tr -d ' -')}
  {
    echo "\$ textebm verify $flags"
    echo "# $(date -u +%FT%TZ), $(getconf _NPROCESSORS_ONLN) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), OMP_NUM_THREADS=${OMP_NUM_THREADS:-unset}"
    start=$(date +%s)
    # shellcheck disable=SC2086
    CI=1 textebm verify $flags 2>&1  # CI=1: no progress bars in the record
    echo "# exit code $?, $(( $(date +%s) - start )) s wall, load average after $(cut -d' ' -f1-3 /proc/loadavg)"
  } > "$out/$name.txt"
done
