# ruff: noqa  (diagnostic scripts of session 6, kept as run for the record; see ../README.md "Diagnosis")
import torch, random, textebm
from transformers import AutoTokenizer, AutoModel

R = "/work/main/experiments/ptb_electric/runs/full/"
tok = AutoTokenizer.from_pretrained(R + "electric-u0.2")
el = AutoModel.from_pretrained(R + "electric-u0.2").eval()
val = [l.strip() for l in open("/work/shared/data/ptb/ptb.valid.txt") if l.strip()][:150]
rng = random.Random(0)
diffs = []
dpos = []
att = []
with torch.no_grad():
    for line in val:
        ids = tok(line, add_special_tokens=False)["input_ids"]
        if len(ids) < 5:
            continue
        perm = list(range(len(ids)))
        rng.shuffle(perm)
        a = torch.tensor([[tok.cls_token_id, *ids, tok.sep_token_id]])
        b = torch.tensor([[tok.cls_token_id, *[ids[p] for p in perm], tok.sep_token_id]])
        o = el(input_ids=a)
        Ea = o.energies[0, 1:-1]
        Eb = el(input_ids=b).energies[0, 1:-1]
        Eb_un = torch.empty_like(Eb)
        Eb_un[torch.tensor(perm)] = Eb  # E of token ids[p] back at original index
        diffs.append((Ea - Eb_un).abs().mean().item())
        # same token, same sentence, moved only by position? (shift by prepending 'the')
        if False:
            A = o.attentions[-1][0].mean(0)  # (L,L) last layer avg heads
            att.append(A.diag().mean().item())
        # sum over sentence
        dpos.append((Ea.sum() - Eb.sum()).item())
import statistics as st

print("mean |E_t(orig) - E_t(shuffled)| per token", st.mean(diffs))
print(
    "sentence sum E: orig - shuffled: mean",
    st.mean(dpos),
    "frac orig lower",
    sum(x < 0 for x in dpos) / len(dpos),
)
if att:
    print("last-layer mean self-attention weight", st.mean(att))
