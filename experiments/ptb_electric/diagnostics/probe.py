# ruff: noqa  (diagnostic scripts of session 6, kept as run for the record; see ../README.md "Diagnosis")
import torch, math
import torch.nn.functional as F

d = torch.load("/tmp/elec_diag_d.pt")
y = d["y"].bool()
E = d["E"]
lq = d["lq"]
base = lq + d["prior"]
s = E + base
import gzip

print(
    "E quantiles",
    [
        round(x, 2)
        for x in torch.quantile(E, torch.tensor([0, 0.01, 0.1, 0.5, 0.9, 0.99, 1.0])).tolist()
    ],
)
# noise tokens by log q bin
for lo, hi in [(-99, -9), (-9, -6), (-6, -3), (-3, 0.1)]:
    m = (lq >= lo) & (lq < hi)
    for lab, mm in [("noise", m & y), ("data", m & ~y)]:
        if mm.sum() > 0:
            print(
                f"lq in [{lo},{hi}) {lab}: n={int(mm.sum())} meanE={E[mm].mean():.2f} acc={((s[mm] > 0) == y[mm]).float().mean():.3f} loss={F.softplus(torch.where(y[mm], -s[mm], s[mm])).mean():.3f}"
            )
