#!/bin/sh
# Follow-up to electric_vs_pll.py (run it first): the same Electric for 6 minutes instead of 2.5,
# against the same frozen cloze noise, on the same 1,000 held-out pairs. Output: results/electric-6min/.
set -e
R=experiments/grammar/runs/electric-vs-pll
O=experiments/grammar/results/electric-6min
mkdir -p "$O"
uptime
CI=1 textebm train electric --corpus $R/data/train.txt --validation $R/data/validation.txt \
  --tokenizer $R/tokenizer --context-length 32 --dropout 0.0 --batch-size 64 --learning-rate 2e-3 \
  --max-steps 5000 --eval-every 0 --checkpoint-every 5000 --seed 0 --preset tiny \
  --noise $R/cloze --time-budget 6 --output $R/electric-6min
grep validation $R/electric-6min/metrics.jsonl
rm -rf $R/pairs/electric-6min
CI=1 textebm eval pairs --model $R/electric-6min --energy electric --group-field group --device cpu \
  $R/pairs.jsonl -o $R/pairs/electric-6min
cp $R/pairs/electric-6min/summary.json $R/pairs/electric-6min/accuracy.png "$O"/
python -c "import json; s=json.load(open('$O/summary.json')); print('accuracy', s['accuracy'], {g: v['accuracy'] for g, v in s['groups'].items()})"
uptime
