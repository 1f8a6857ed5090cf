"""What this machine computes fast: a pinned matrix-product rate to compare speed figures against,
and whether bf16 autocast is worth it here (`--mixed-precision auto`).

Time-budgeted results and throughput figures only compare across machines when they are stated
beside what the machine itself can do; CPU speed also drifts during a day, so the rate is
measured in the same run as the figure it qualifies (every training session records it, see
`machine_record`).
"""

from __future__ import annotations

import platform
import statistics
import time
from pathlib import Path
from typing import Any

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


# The pinned product's shape, measured at the start of every training session; fewer repeats
# than the benchmark's 10 (a session pays for them), the same shape so the figures compare.
SESSION_PROBE: dict[str, int] = dict(m=8192, k=768, n=3072, repeats=5, warmup=2)


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU feature flags the kernel reports; empty where it reports none (macOS, Windows)."""
    return frozenset((_cpuinfo_field(cpuinfo, "flags") or "").split())


def bf16_is_fast(cpuinfo: str | Path = "/proc/cpuinfo") -> bool:
    """Whether bf16 autocast trains faster than fp32 on this machine's accelerator, or its CPU.

    Decided by the reported capability, not a measurement, so the answer is the same at every
    start on the same machine (a resumed run gets the precision it started with) and no load on
    a shared machine can flip it. A CUDA GPU needs native bf16 (tensor cores, compute capability
    8.0 on); emulated bf16 is slower. A CPU needs AMX tiles (amx_bf16, amx_tile): AVX-512-BF16
    alone is not enough, e.g. this project's CPU (avx512_bf16, no AMX) trains the PTB causal LM
    at ~1,900 tokens/s in bf16 against ~2,800 in fp32. Other accelerators (MPS, XPU) keep fp32
    until one is measured.
    """
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported(including_emulation=False)
    if torch.accelerator.is_available():
        return False
    return {"amx_bf16", "amx_tile"} <= cpu_flags(cpuinfo)


def auto_mixed_precision() -> str:
    """What `--mixed-precision auto` resolves to here: "bf16" where it is fast, else "no"."""
    return "bf16" if bf16_is_fast() else "no"


def machine_record(
    device: str | torch.device, mixed_precision: str, cpuinfo: str | Path = "/proc/cpuinfo"
) -> dict[str, Any]:
    """What this machine is and can do, for a training session's record: the device, the CPU
    model and threads, and the pinned matrix-product rate (`SESSION_PROBE`) in fp32 and, when the
    session computes in it, in bf16 (the session's figures are stated against these)."""
    device = torch.device(device)
    record: dict[str, Any] = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else device.type,
        "cpu": _cpu_model(cpuinfo),
        "threads": torch.get_num_threads(),
        "mixed_precision": mixed_precision,
        "matmul_gflops_fp32": matmul_rate(**SESSION_PROBE, device=device),
    }
    if mixed_precision == "bf16":
        record["matmul_gflops_bf16"] = matmul_rate(
            **SESSION_PROBE, dtype=torch.bfloat16, device=device
        )
    return record


def _cpu_model(cpuinfo: str | Path) -> str:
    return _cpuinfo_field(cpuinfo, "model name") or platform.processor() or platform.machine()


def _cpuinfo_field(cpuinfo: str | Path, field: str) -> str | None:
    """The first processor's `field` in /proc/cpuinfo, or None where there is no such file."""
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() == field:
            return value.strip()
    return None
