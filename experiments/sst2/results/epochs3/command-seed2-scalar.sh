# Session 8, one thread (OMP_NUM_THREADS=1) beside one other training job. The checkout was new
# (runs/ lost): --part noise remade the same noise file; --part seed2 kept seed 2's recorded
# plain and hidden reports and trained scalar only.
export OMP_NUM_THREADS=1
cd /work/main
. .venv/bin/activate
for step in "--part noise" "--part seed2 --name epochs3 --steps 900 --variants plain,hidden,scalar" "--part table --name epochs3"; do
  echo "== $step, $(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg)"
  python experiments/sst2/run_sst2.py $step || exit 1
done
