# ruff: noqa  (a quick diagnostic script, kept as run for the record; see the s2s-collapse report)
"""Toy: number words De->En through the real recipe; val loss vs ln(10)-ish unconditional level.

    python experiments/multi30k/diagnostics/toy_translation_probe.py LR STEPS LAYERS HIDDEN DROPOUT

The toy is the one tests/recipes/test_seq2seq_conditioning.py trains on (`conditioning_config`),
with these five settings swept, feed-forward 2 x HIDDEN, and no label smoothing.
"""

import json, sys, tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the checkout: tests.recipes
from tests.recipes.test_seq2seq_conditioning import conditioning_config
from textebm.recipes.seq2seq import train_seq2seq

lr = float(sys.argv[1])
steps = int(sys.argv[2])
layers = int(sys.argv[3])
h = int(sys.argv[4])
drop = float(sys.argv[5])
c = conditioning_config(
    Path(tempfile.mkdtemp()),
    layers=layers,
    hidden_size=h,
    intermediate_size=2 * h,
    max_steps=steps,
    eval_every=steps // 4,
    log_every=steps // 4,
    learning_rate=lr,
    dropout=drop,
    label_smoothing=0.0,
)
out = train_seq2seq(c)
for l in (out / "metrics.jsonl").read_text().splitlines():
    r = json.loads(l)
    if r["split"] == "validation":
        print(sys.argv[1:], r["step"], round(r["loss"], 3))
