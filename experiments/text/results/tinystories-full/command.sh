# Session 8, two threads (OMP_NUM_THREADS=2) alone on the machine. The mle model resumed from the
# checkpoint of a one-thread run stopped ~10 min in (exact resume: the same model as one run).
export OMP_NUM_THREADS=2
cd /work/main
. .venv/bin/activate
python experiments/text/sequencematch_text.py --corpus tinystories --part prepare
python experiments/text/sequencematch_text.py --corpus tinystories --part seed --seed 0
python experiments/text/sequencematch_text.py --corpus tinystories --part table

# Session 9 (a new checkout: runs/ lost, so --part prepare remade the data and tokenizer), one
# thread (OMP_NUM_THREADS=1) beside one other single-thread job (the SST-2 runs).
export OMP_NUM_THREADS=1
python experiments/text/sequencematch_text.py --corpus tinystories --part prepare
python experiments/text/sequencematch_text.py --corpus tinystories --part seed --seed 1
python experiments/text/sequencematch_text.py --corpus tinystories --part seed --seed 2
python experiments/text/sequencematch_text.py --corpus tinystories --part table
