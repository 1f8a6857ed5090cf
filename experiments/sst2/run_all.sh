#!/bin/sh
# The whole table, one part after another (each resumable: rerun this to continue after a stop).
# Logs to results/<part>.log. Usage: nohup sh experiments/sst2/run_all.sh &
cd "$(dirname "$0")/../.." || exit 1
for part in noise seed0 seed1 seed2 table; do
  {
    echo "== part $part, $(date -u +%FT%TZ), $(getconf _NPROCESSORS_ONLN) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "== OMP_NUM_THREADS=${OMP_NUM_THREADS:-unset}; other jobs may share the machine: wall times are not quiet times"
    python experiments/sst2/run_sst2.py --part "$part"
  } >> "experiments/sst2/results/$part.log" 2>&1 || exit 1
done
