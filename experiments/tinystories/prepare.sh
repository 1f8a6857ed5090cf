#!/usr/bin/env bash
# Split the TinyStories validation subset into training and held-out parts (outside git, under
# runs/), then train a byte-level BPE tokenizer on the training part.
# Documents are the blank-line-separated blocks; the last 430 of the 4,300 (10%) are held out.
set -euo pipefail
cd "$(dirname "$0")/../.."
SRC=${TINYSTORIES:-/work/shared/data/tinystories/tinystories_val_subset.txt.gz}
RUNS=experiments/tinystories/runs
mkdir -p $RUNS/data
zcat "$SRC" | awk -v RS= -v ORS='\n\n' 'NR <= 3870' > $RUNS/data/train.txt
zcat "$SRC" | awk -v RS= -v ORS='\n\n' 'NR > 3870' > $RUNS/data/valid.txt
wc -lw $RUNS/data/train.txt $RUNS/data/valid.txt
[ -f $RUNS/tokenizer/tokenizer.json ] || nice -n 19 textebm train tokenizer \
  --corpus $RUNS/data/train.txt --kind bpe --vocab-size 4096 --output $RUNS/tokenizer
