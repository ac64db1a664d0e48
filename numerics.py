"""Which numbers training computes with on a CPU, and how to compute those of a CPU this one is not.

ponder trains with bf16 autocast where the CPU has native bf16 (AVX-512 BF16 / AMX) and in fp32 elsewhere
(`ponder.trainers.common.cpu_defaults`), and the same recipe can learn differently on the two paths (DESIGN.md
section 10). `PONDER_CPU_BF16=0` (or `1`) picks the path whatever the CPU. A machine with AVX-512 still rounds fp32
differently from an AVX2-only CPU: PyTorch's own kernels follow `ATEN_CPU_CAPABILITY`, but every fp32 matmul goes
to MKL, which ignores it (a linear layer gave bit-identical results with and without `ATEN_CPU_CAPABILITY=avx2` on
a 2-core Xeon; `MKL_ENABLE_INSTRUCTIONS=AVX2` changed them). `AVX2_EMULATION` sets all of them: the environment of a
CPU without native bf16, to set before torch is imported. `PONDER_NUMERICS=fp32_avx2` asks the test suite for it
(tests/conftest.py); `bench/common.run_recipe_process` runs a recipe under it.
"""

from __future__ import annotations

import os

AVX2_EMULATION = {
    "PONDER_CPU_BF16": "0",  # train in fp32, as ponder does where bf16 is not native
    "ATEN_CPU_CAPABILITY": "avx2",  # PyTorch's vectorised kernels (softmax, norms, elementwise) in AVX2
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",  # MKL's GEMMs: every fp32 matmul
    "ONEDNN_MAX_CPU_ISA": "AVX2",  # oneDNN (mkldnn) primitives
}


def forced_bf16() -> bool | None:
    """`PONDER_CPU_BF16`: True (1, bf16 autocast), False (0, fp32) or None (unset: whatever the CPU has natively)."""
    value = os.environ.get("PONDER_CPU_BF16", "").strip()
    if value not in ("", "0", "1"):
        raise ValueError(f"PONDER_CPU_BF16={value!r}: use 0 (fp32) or 1 (bf16 autocast), or leave it unset")
    return None if not value else value == "1"
