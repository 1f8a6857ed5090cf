# Session 9, one thread each (OMP_NUM_THREADS=1), two seeds at a time on the 2 cores (seed 0 beside
# the SST-2 runs, then seeds 1 and 2 side by side): about 30 minutes a seed.
export OMP_NUM_THREADS=1
cd /work/main
. .venv/bin/activate
python experiments/text/sequencematch_text.py --corpus ptb --part prepare
python experiments/text/sequencematch_text.py --corpus ptb --part seed --seed 0
python experiments/text/sequencematch_text.py --corpus ptb --part seed --seed 1 &   # beside seed 0's end
python experiments/text/sequencematch_text.py --corpus ptb --part seed --seed 2     # after seed 0
wait
python experiments/text/sequencematch_text.py --corpus ptb --part table
