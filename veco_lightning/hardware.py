"""What the machine runs fast: a bf16 run on a CPU without bf16 kernels is many times slower than fp32.

torch's CPU matrix products in bf16 go through oneDNN, whose bf16 kernels need AVX-512 (native with AVX512-BF16 or
AMX, converted on plain AVX-512) or ARM's bf16 instructions. Elsewhere (an AVX2-only x86 CPU, for instance) torch
falls back to a slow path: on 2 cores of an AMD EPYC with AVX2 only, a bf16 ``torch.matmul`` at 1024^3 ran at
about 1 GFLOP/s against 133 at 4096^3 in fp32, and the MLM step at the ``small`` shape in bf16-mixed at 89 tokens/s
against 3,245 in fp32, 36x slower (``benchmarks/README.md``, "bf16 on a CPU without bf16 kernels").
"""

from __future__ import annotations

import logging
import os
from typing import Any

import torch

log = logging.getLogger(__name__)


def available_cores() -> int:
    """The CPU cores this process may run on: its affinity where the system tells it (a container's or ``taskset``'s
    share), else every core."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def cpu_bf16_kernels() -> bool:
    """Whether this CPU has oneDNN's bf16 kernels (``True`` where torch cannot tell)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a build without oneDNN, or an older torch: do not guess
        return True


def check_cpu_precision(trainer: Any) -> None:
    """Warn when ``trainer`` runs bf16 on a CPU without bf16 kernels, with the fix."""
    precision = str(getattr(trainer, "precision", ""))
    strategy = getattr(trainer, "strategy", None)
    device = getattr(getattr(strategy, "root_device", None), "type", None)
    if "bf16" not in precision or device != "cpu" or cpu_bf16_kernels():
        return
    capability = torch.backends.cpu.get_cpu_capability()
    log.warning("trainer.precision is %s on a CPU without bf16 kernels (torch's CPU capability: %s; oneDNN runs bf16 "
                "only with AVX-512 or ARM bf16): matrix products take a slow path, and a training step runs many "
                "times slower than in fp32 (36x for the MLM step on an AVX2 CPU, benchmarks/README.md). Fix: set "
                "trainer.precision: 32-true on this machine (--trainer.precision 32-true)", precision, capability)
