# Session 8 (2026-12-02), what was run: one thread each (OMP_NUM_THREADS=1), two jobs at a time on
# the 2 cores (the noise and Electric beside the SST-2 job, then the masked LM; eval beside the
# masked LM's end, a CI check and another job). Shorter budgets than the README's defaults
# (noise 30 / MLM 50 / Electric 60 min instead of 60 / 120 / 120) so that all of it fit one session.
export OMP_NUM_THREADS=1
cd /work/main
. .venv/bin/activate
python experiments/open_vocab/run.py --part data --part train-noise --minutes-noise 30
python experiments/open_vocab/run.py --part train-electric --minutes-electric 60
python experiments/open_vocab/run.py --part train-mlm --minutes-mlm 50   # in parallel with the line above
python experiments/open_vocab/run.py --part eval
