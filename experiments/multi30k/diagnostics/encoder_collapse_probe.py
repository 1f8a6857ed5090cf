# ruff: noqa  (a quick diagnostic script, kept as run for the record; see the s2s-collapse report)
"""Probe: does a small BART (recipe model) condition on the source? lr / layout sweep."""

import gzip, math, sys, time, torch, random
from transformers import AutoTokenizer, MBartConfig, MBartForConditionalGeneration
from textebm.models.seq2seq import seq2seq_model
from textebm.recipes.seq2seq import PairExample, Seq2Seq
from textebm.recipes.loop import Models

torch.manual_seed(0)
random.seed(0)
lr = float(sys.argv[1])
layout = sys.argv[2]
steps = int(sys.argv[3])
blind = len(sys.argv) > 4 and sys.argv[4] == "blind"
D = "/work/shared/data/multi30k/tok/"
tok = AutoTokenizer.from_pretrained("/work/main/experiments/multi30k/runs/full/tokenizer")


def read(name, n):
    with gzip.open(D + name, "rt") as f:
        return [l.strip() for _, l in zip(range(n), f)]


def ex(de, en):
    s = tok(de)["input_ids"]
    t = tok(en)["input_ids"]
    return [
        PairExample(a if not blind else a[:1] + a[-1:], b)
        for a, b in zip(s, t)
        if len(a) <= 64 and len(b) <= 64
    ]


train = ex(read("train.lc.norm.tok.de.gz", 5000), read("train.lc.norm.tok.en.gz", 5000))
val = ex(read("val.lc.norm.tok.de.gz", 300), read("val.lc.norm.tok.en.gz", 300))
if layout == "bart":
    model = seq2seq_model(tok, 2, 128, 4, 512, 64, dropout=0.1)
else:  # pre-LN (mBART layout)
    from transformers import BartConfig

    c = seq2seq_model(tok, 2, 128, 4, 512, 64, dropout=0.1).config.to_dict()
    c.pop("model_type", None)
    c.pop("architectures", None)
    model = MBartForConditionalGeneration(MBartConfig(**c))
obj = Seq2Seq(0.1)
obj.check_tokenizer(tok)
models = Models(model) if False else None


class M:  # minimal Models stand-in
    main = model


opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
warm = max(1, steps // 20)


def enc_diff():
    model.eval()
    b = obj.batch(val, list(range(8)), None)
    with torch.no_grad():
        h = model.get_encoder()(
            input_ids=b.inputs["input_ids"], attention_mask=b.inputs["attention_mask"]
        ).last_hidden_state
    first = h[:, 1]  # first word's state in each sentence
    model.train()
    return float((first[0] - first[1:]).abs().mean())


def val_loss():
    model.eval()
    tot = n = 0
    with torch.no_grad():
        for s in range(0, len(val), 64):
            b = obj.batch(val, list(range(s, min(s + 64, len(val)))), None)
            tot += float(obj.loss(M, b.inputs, smoothing=0.0)["loss"])
            n += b.counts["loss"]
    model.train()
    return tot / n


t0 = time.time()
model.train()
for step in range(1, steps + 1):
    for g in opt.param_groups:
        g["lr"] = lr * min(step / warm, (steps - step) / (steps - warm))
    idx = random.sample(range(len(train)), 64)
    b = obj.batch(train, idx, None)
    loss = obj.loss(M, b.inputs)["loss"] / b.counts["loss"]
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    opt.zero_grad()
    if step % 50 == 0 or step == steps:
        print(
            f"{layout} lr={lr} blind={blind} step {step} train {loss.item():.3f} val {val_loss():.3f} encdiff {enc_diff():.4f} t {time.time() - t0:.0f}s",
            flush=True,
        )
