"""What the machine computes fast: CPU flags, the bf16 decision, the session's measured rates."""

from __future__ import annotations

import pytest
import torch

from textebm import hardware

# /proc/cpuinfo as this project's CPU reports it (AVX-512 with AVX-512-BF16, no AMX), shortened.
NO_AMX = (
    "processor\t: 0\nmodel name\t: Example Xeon\n"
    "flags\t\t: fpu sse2 avx2 avx512f avx512bw avx512_bf16 avx512_vnni\n\n"
    "processor\t: 1\nmodel name\t: Example Xeon\nflags\t\t: fpu sse2\n"
)
AMX = NO_AMX.replace("avx512_vnni", "avx512_vnni amx_bf16 amx_tile amx_int8")


@pytest.fixture
def cpu_only(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.accelerator, "is_available", lambda: False)


def cpuinfo(tmp_path, text: str):
    path = tmp_path / "cpuinfo"
    path.write_text(text)
    return path


def test_cpu_flags_are_the_first_processors(tmp_path):
    flags = hardware.cpu_flags(cpuinfo(tmp_path, NO_AMX))
    assert {"avx512f", "avx512_bf16"} <= flags and "amx_tile" not in flags
    assert hardware.cpu_flags(tmp_path / "absent") == frozenset()


def test_bf16_is_fast_on_a_cpu_only_with_amx(cpu_only, tmp_path):
    assert not hardware.bf16_is_fast(cpuinfo(tmp_path, NO_AMX))  # AVX-512-BF16 is not enough
    assert hardware.bf16_is_fast(cpuinfo(tmp_path, AMX))
    assert not hardware.bf16_is_fast(tmp_path / "absent")  # e.g. macOS: fp32


@pytest.mark.parametrize("native", [True, False])
def test_bf16_is_fast_on_a_gpu_with_native_bf16(monkeypatch, tmp_path, native):
    calls = []

    def supported(including_emulation: bool = True) -> bool:
        calls.append(including_emulation)
        return native or including_emulation  # an older GPU emulates bf16

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", supported)
    assert hardware.bf16_is_fast(cpuinfo(tmp_path, AMX)) is native  # the GPU decides, not AMX
    assert calls == [False]


def test_other_accelerators_keep_fp32(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.accelerator, "is_available", lambda: True)  # e.g. MPS
    assert not hardware.bf16_is_fast(cpuinfo(tmp_path, AMX))


def test_machine_record_measures_fp32_and_the_sessions_precision(tmp_path):
    path = cpuinfo(tmp_path, NO_AMX)
    fp32 = hardware.machine_record("cpu", "no", path)
    assert fp32["cpu"] == "Example Xeon" and fp32["device"] == "cpu"
    assert fp32["threads"] == torch.get_num_threads() and fp32["mixed_precision"] == "no"
    assert fp32["matmul_gflops_fp32"] > 0 and "matmul_gflops_bf16" not in fp32
    bf16 = hardware.machine_record("cpu", "bf16", path)
    assert bf16["matmul_gflops_fp32"] > 0 and bf16["matmul_gflops_bf16"] > 0
