# Session 10 (2026-12-03), a fresh checkout, one thread (OMP_NUM_THREADS=1) beside one other job:
MINUTES_PER_SAMPLER=15 experiments/ptb/converged.sh
# It trained mlm-sampler (20 min) and clm-quiet-2 (30 min) first (models.json: their last
# validation), then ran the three samplers 15 minutes each. The first invocation used 32 chains and
# `sample` refused --until-rhat (length 14 had one chain); with 40 chains the gibbs row ran, then
# the script died (it was edited while running); the second invocation skipped gibbs (its .jsonl
# existed) and ran mh-raw, mh-norm and the evaluation. Same settings for all three rows.
