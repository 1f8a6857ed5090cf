# Session 9: SequenceMatch with alpha 0.9 (--bc-weight; the main table: 0.5), TinyStories.
# Seeds 1 and 2 reuse the main table's mle, mle-ft and bkspc models (symlinked into the variant's
# run folder, so the fine-tune part trains only sm; their re-evaluated MAUVE equals the main
# table's exactly); seed 0's models were gone with session 8's checkout, so its whole seed ran
# again (mle, the three fine-tunes, eval). One thread each, beside other jobs; bf16 autocast
# (an AMX CPU). The cost ratio of seeds 1-2 compares this session's sm with the mle-ft run
# recorded earlier in this session (not back to back).
export OMP_NUM_THREADS=1
cd /work/main
. .venv/bin/activate
R=experiments/text/runs/tinystories-a09
mkdir -p $R
for f in prompts.txt references.txt tokenizer train.txt valid.txt; do ln -sfn ../tinystories-full/$f $R/$f; done
for s in 1 2; do
  mkdir -p $R/seed$s
  for m in mle bkspc mle-ft; do ln -sfn ../../tinystories-full/seed$s/$m $R/seed$s/$m; done
done
A="--corpus tinystories --bc-weight 0.9 --run $R --out experiments/text/results/variants/alpha0.9"
python experiments/text/sequencematch_text.py $A --part finetune --part eval --seed 1
python experiments/text/sequencematch_text.py $A --part finetune --part eval --seed 2
python experiments/text/sequencematch_text.py $A --part seed --seed 0
python experiments/text/sequencematch_text.py $A --part table
