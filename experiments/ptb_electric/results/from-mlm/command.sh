export OMP_NUM_THREADS=1
cd /work/main
. .venv/bin/activate
python experiments/ptb_electric/run.py --electric-init mlm --noise-uniform 0.2 --part data --part train-noise --part train-mlm --part train-electric --part eval --minutes-noise 15 --minutes-mlm 20 --minutes-electric 40 --out experiments/ptb_electric/results/from-mlm
