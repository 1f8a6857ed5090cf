# ruff: noqa  (a quick diagnostic script, kept as run for the record; see the s2s-collapse report)
"""Toy: number words De->En through the real recipe; val loss vs ln(10)-ish unconditional level."""

import json, sys, tempfile, random
from pathlib import Path

sys.path.insert(0, "tests/recipes")
from test_seq2seq import write_pairs
from textebm.data.tokenizers import train_tokenizer
from textebm.recipes.seq2seq import train_seq2seq
from textebm.recipes.seq2seq_config import Seq2SeqConfig

lr = float(sys.argv[1])
steps = int(sys.argv[2])
layers = int(sys.argv[3])
h = int(sys.argv[4])
drop = float(sys.argv[5])
d = Path(tempfile.mkdtemp())
tr = write_pairs(d, "train", 2000, 1)
va = write_pairs(d, "valid", 64, 2)
lines = [l for p in tr for l in p.read_text().splitlines()]
train_tokenizer(lines, kind="wordlevel", model_max_length=32).save_pretrained(d / "tok")
c = Seq2SeqConfig(
    source=str(tr[0]),
    corpus=str(tr[1]),
    validation_source=str(va[0]),
    validation=str(va[1]),
    tokenizer=str(d / "tok"),
    output=str(d / "run"),
    layers=layers,
    hidden_size=h,
    heads=2,
    intermediate_size=2 * h,
    context_length=16,
    batch_size=32,
    max_steps=steps,
    eval_every=steps // 4,
    log_every=steps // 4,
    checkpoint_every=0,
    learning_rate=lr,
    dropout=drop,
    label_smoothing=0.0,
)
out = train_seq2seq(c)
for l in (out / "metrics.jsonl").read_text().splitlines():
    r = json.loads(l)
    if r["split"] == "validation":
        print(sys.argv[1:], r["step"], round(r["loss"], 3))
