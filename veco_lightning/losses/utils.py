"""What the losses share besides the temperature: numerics under mixed precision."""

from __future__ import annotations

import torch


def upcast(x: torch.Tensor) -> torch.Tensor:
    """fp32 for softmax and similarity maths under fp16 / bf16 autocast (a log-softmax over 250k logits, or cosines
    divided by a temperature of 0.05, lose too much precision in 16 bits); other dtypes unchanged."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
