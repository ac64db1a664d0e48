"""The numeric path the suite runs on is the one asked for: `PONDER_NUMERICS=fp32_avx2` (README's second pass) must
really train in fp32 with AVX2 kernels, or a green second pass would prove nothing."""

import os

import pytest
import torch

from ponder.numerics import AVX2_EMULATION, forced_bf16
from ponder.trainers.common import cpu_defaults


def test_the_suite_runs_on_the_numeric_path_it_was_asked_for():
    native = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    if os.environ.get("PONDER_NUMERICS") == "fp32_avx2":
        assert cpu_defaults()["bf16"] is False
        assert torch.backends.cpu.get_cpu_capability() in ("AVX2", "DEFAULT")  # never AVX512 kernels
        assert all(os.environ[k] == v for k, v in AVX2_EMULATION.items())
    elif "PONDER_CPU_BF16" not in os.environ:
        assert cpu_defaults()["bf16"] is native


def test_ponder_cpu_bf16_picks_the_path_and_names_a_bad_value(monkeypatch):
    monkeypatch.setenv("PONDER_CPU_BF16", "0")
    assert cpu_defaults()["bf16"] is False and forced_bf16() is False
    monkeypatch.setenv("PONDER_CPU_BF16", "1")
    assert cpu_defaults()["bf16"] is True
    monkeypatch.setenv("PONDER_CPU_BF16", "yes")
    with pytest.raises(ValueError, match="PONDER_CPU_BF16='yes': use 0"):
        cpu_defaults()
