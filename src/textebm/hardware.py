"""What this machine computes fast: a pinned matrix-product rate to compare speed figures against.

Time-budgeted results and throughput figures only compare across machines when they are stated
beside what the machine itself can do; CPU speed also drifts during a day, so the rate is
measured in the same run as the figure it qualifies.
"""

from __future__ import annotations

import statistics
import time

import torch


def matmul_rate(
    m: int = 8192,
    k: int = 768,
    n: int = 3072,
    dtype: torch.dtype = torch.float32,
    threads: int | None = None,
    repeats: int = 10,
    warmup: int = 3,
    device: str | torch.device = "cpu",
) -> float:
    """GFLOP/s of an (m x k) by (k x n) matrix product: the median of `repeats` timed products
    after `warmup` untimed ones, on `threads` intra-op threads (default: the current setting).

    The defaults are the pinned reference of the scoring benchmark: fp32, (8192 x 768) by
    (768 x 3072), the largest product of a BERT-base layer at the default token budget.
    """
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        generator = torch.Generator(device="cpu").manual_seed(0)
        a = torch.randn(m, k, generator=generator).to(device=device, dtype=dtype)
        b = torch.randn(k, n, generator=generator).to(device=device, dtype=dtype)
        seconds = []
        for i in range(warmup + repeats):
            _synchronize(device)
            start = time.perf_counter()
            torch.mm(a, b)
            _synchronize(device)
            if i >= warmup:
                seconds.append(time.perf_counter() - start)
        return 2.0 * m * k * n / statistics.median(seconds) / 1e9
    finally:
        torch.set_num_threads(previous)


def _synchronize(device: str | torch.device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()
