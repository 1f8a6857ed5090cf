# Session 7, one thread each (OMP_NUM_THREADS=1), beside one other training job and, later, CI.
# The noise was regenerated first (this checkout had lost runs/): same recipe as the main table.
python experiments/sst2/run_sst2.py --part noise
python experiments/sst2/run_sst2.py --part seed0 --name epochs3 --steps 900 --variants plain,scalar,hidden
python experiments/sst2/run_sst2.py --part seed1 --name epochs3 --steps 900 --variants plain,hidden,scalar
python experiments/sst2/run_sst2.py --part table --name epochs3
