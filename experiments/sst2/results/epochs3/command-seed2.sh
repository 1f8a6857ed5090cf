export OMP_NUM_THREADS=2
cd /work/main
. .venv/bin/activate
for step in "--part seed2 --name epochs3 --steps 900 --variants plain,hidden" "--part table --name epochs3"; do
  echo "== $step, $(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg)"
  python experiments/sst2/run_sst2.py $step || exit 1
done
