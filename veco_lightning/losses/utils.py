"""What the losses share besides the temperature: numerics under mixed precision."""

from __future__ import annotations

import torch


def upcast(x: torch.Tensor) -> torch.Tensor:
    """fp32 for softmax and similarity maths under fp16 / bf16 autocast (a log-softmax over 250k logits, or cosines
    divided by a temperature of 0.05, lose too much precision in 16 bits); other dtypes unchanged."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def autocast_off(reference: torch.Tensor) -> torch.autocast:
    """A context that turns autocast off on ``reference``'s device: under bf16 / fp16 autocast a matrix product of
    fp32 inputs is still computed in 16 bits, so :func:`upcast` alone does not keep similarity logits in fp32."""
    return torch.autocast(device_type=reference.device.type, enabled=False)
