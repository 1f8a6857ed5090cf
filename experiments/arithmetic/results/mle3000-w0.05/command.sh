# Session 9, one thread (OMP_NUM_THREADS=1) beside one other single-thread job; 399 s.
export OMP_NUM_THREADS=1
cd /work/main
. .venv/bin/activate
python experiments/arithmetic/sequencematch_arithmetic.py --mle-steps 3000 --square-weight 0.05 \
  --run experiments/arithmetic/runs/mle3000-w0.05 --out experiments/arithmetic/results/mle3000-w0.05
