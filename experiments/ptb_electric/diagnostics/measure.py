# ruff: noqa  (diagnostic scripts of session 6, kept as run for the record; see ../README.md "Diagnosis")
import math, gzip, collections, torch, json, sys
import torch.nn.functional as F
import textebm
from transformers import AutoTokenizer, AutoModel
from textebm.objectives.electric import (
    choose_positions,
    corrupt,
    noise_log_probs,
    noise_logits,
    counted,
    sequence_sizes,
)
from textebm.energies.masked_lm import context_token_ids
from textebm.recipes.cloze import read_cloze

torch.manual_seed(0)
R = "/work/main/experiments/ptb_electric/runs/full/"
tok = AutoTokenizer.from_pretrained(R + "electric-u0.2")
el = AutoModel.from_pretrained(R + "electric-u0.2").eval()
cz = read_cloze(R + "cloze", "x").eval()
ctx = torch.tensor(context_token_ids(tok))
V = len(tok)
# unigram from PTB train
cnt = torch.zeros(V)
lines = [l.strip() for l in gzip.open("/work/shared/data/ptb/ptb.train.txt.gz", "rt") if l.strip()]
for ids in tok(lines, add_special_tokens=False)["input_ids"]:
    cnt += torch.bincount(torch.tensor(ids), minlength=V).float()
logu = torch.log((cnt + 0.5) / (cnt + 0.5).sum())
val = [l.strip() for l in open("/work/shared/data/ptb/ptb.valid.txt") if l.strip()][
    : int(sys.argv[1])
]
enc = [
    [tok.cls_token_id, *ids, tok.sep_token_id]
    for ids in tok(val, add_special_tokens=False)["input_ids"]
]
g = torch.Generator().manual_seed(1)
rec = collections.defaultdict(list)
with torch.no_grad():
    for s in range(0, len(enc), 32):
        b = enc[s : s + 32]
        L = max(map(len, b))
        ids = torch.tensor([x + [tok.pad_token_id] * (L - len(x)) for x in b])
        am = (ids != tok.pad_token_id).long()
        for i, x in enumerate(b):
            am[i, : len(x)] = 1
        ordn = am.bool() & ~torch.isin(ids, ctx)
        ch = choose_positions(ordn, g)
        lq = noise_log_probs(cz(ids, am).logits, ctx, 0.2)
        cor, lqx = corrupt(ids, lq, ch, g)
        E = el(input_ids=cor, attention_mask=am).energies
        Eorig = el(input_ids=ids, attention_mask=am).energies
        s = noise_logits(E, lqx, ordn)
        prior = s - E - lqx
        # cloze on corrupted sequence: achievable contextual E
        lqc = noise_log_probs(cz(cor, am).logits, ctx, 0.2).gather(-1, cor[..., None])[..., 0]
        m = counted(ordn)
        for k, v in dict(
            E=E,
            lq=lqx,
            prior=prior,
            y=ch.float(),
            tok=cor.float(),
            lqc=lqc,
            Eorig=Eorig,
            orig=ids.float(),
        ).items():
            rec[k].append(v[m])
d = {k: torch.cat(v) for k, v in rec.items()}
y = d["y"].bool()
base = d["lq"] + d["prior"]


def loss(e):
    s = e + base
    return F.softplus(torch.where(y, -s, s)).mean().item(), ((s > 0) == y).float().mean().item()


def fit(feats):
    w = torch.zeros(len(feats) + 1, requires_grad=True)
    X = torch.stack(feats + [torch.ones_like(feats[0])], 1)
    opt = torch.optim.LBFGS([w], max_iter=200, line_search_fn="strong_wolfe")

    def cl():
        opt.zero_grad()
        s = X @ w + base
        l = F.softplus(torch.where(y, -s, s)).mean()
        l.backward()
        return l

    opt.step(cl)
    return (X @ w).detach(), w.detach().tolist()


print(
    "positions",
    len(y),
    "noise frac",
    y.float().mean().item(),
    "label-entropy",
    (lambda p: -(p * math.log(p) + (1 - p) * math.log(1 - p)))(y.float().mean().item()),
)
print("trained E          ", loss(d["E"]))
e, w = fit([d["E"]])
print("affine(trained E)  ", loss(e), w)
e, w = fit([torch.zeros_like(d["E"])])
print("best constant E    ", loss(e), w)
U = -logu[d["tok"].long()]
e, w = fit([U])
print("affine(-log unigram)", loss(e), w)
e, w = fit([d["E"], U])
print("affine(E, -log u)  ", loss(e), w)
e, w = fit([-d["lqc"]])
print("affine(-log q_cloze(corrupted))", loss(e), w)
e, w = fit([d["E"], -d["lqc"]])
print("affine(E,-log q_corr)", loss(e), w)
# per-type: how much of E's variance is explained by token identity
t = d["tok"].long()
E_ = d["E"]
sums = torch.zeros(V).index_add_(0, t, E_)
n = torch.zeros(V).index_add_(0, t, torch.ones_like(E_))
tm = (sums / n.clamp(min=1))[t]
print(
    "E var",
    E_.var().item(),
    "within-type residual var",
    (E_ - tm).var().item(),
    "R2 token id",
    1 - (E_ - tm).var().item() / E_.var().item(),
)
e, w = fit([tm])
print("affine(per-type mean E) (in-sample)", loss(e), w)
print("corr(E,-log u)", torch.corrcoef(torch.stack([E_, U]))[0, 1].item())
# noise vs data positions mean E
print("mean E data", E_[~y].mean().item(), "mean E noise", E_[y].mean().item())
print("mean lq data", d["lq"][~y].mean().item(), "noise", d["lq"][y].mean().item())
print("mean s data", (E_ + base)[~y].mean().item(), "noise", (E_ + base)[y].mean().item())
# E on data tokens, orig sequence vs same token in corrupted (context perturbed)
torch.save(d, "/tmp/elec_diag_d.pt")
