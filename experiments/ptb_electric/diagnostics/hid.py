# ruff: noqa  (diagnostic scripts of session 6, kept as run for the record; see ../README.md "Diagnosis")
import torch, random, textebm
from transformers import AutoTokenizer, AutoModel, AutoModelForMaskedLM

R = "/work/main/experiments/ptb_electric/runs/full/"
tok = AutoTokenizer.from_pretrained(R + "electric-u0.2")
el = AutoModel.from_pretrained(R + "electric-u0.2").eval()
mlm = AutoModelForMaskedLM.from_pretrained(R + "mlm").eval()
val = [l.strip() for l in open("/work/shared/data/ptb/ptb.valid.txt") if l.strip()][:100]
rng = random.Random(0)
res = {"el": [[], [], []], "mlm": [[], [], []]}
with torch.no_grad():
    for line in val:
        ids = tok(line, add_special_tokens=False)["input_ids"]
        if len(ids) < 5:
            continue
        perm = list(range(len(ids)))
        rng.shuffle(perm)
        P = torch.tensor(perm)
        a = torch.tensor([[tok.cls_token_id, *ids, tok.sep_token_id]])
        b = torch.tensor([[tok.cls_token_id, *[ids[p] for p in perm], tok.sep_token_id]])
        for name, m in (("el", el.bert), ("mlm", mlm.bert)):
            ha = m(input_ids=a, output_hidden_states=True).hidden_states
            hb = m(input_ids=b, output_hidden_states=True).hidden_states
            for L in range(3):
                x = ha[L][0, 1:-1]
                z = torch.empty_like(x)
                z[P] = hb[L][0, 1:-1]
                res[name][L].append(torch.nn.functional.cosine_similarity(x, z, -1).mean().item())
import statistics as st

for n in res:
    print(
        n,
        "cos(h_t orig, h_t shuffled) per layer (emb,1,2):",
        [round(st.mean(v), 3) for v in res[n]],
    )
print("energy head |w|", el.energy_head.weight.norm().item(), "b", el.energy_head.bias.item())
