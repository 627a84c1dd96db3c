"""The temperature both contrastive losses share: logits are cos / τ, with τ fixed or learned."""

from __future__ import annotations

import math

import torch
from torch import nn


class TemperatureScaled(nn.Module):
    """Base of the contrastive losses: holds log(1/τ) (a parameter when learned, else a non-persistent buffer) and
    exposes ``scale`` = 1/τ, clamped at 100 as in CLIP so that a learned τ cannot collapse.

    Args:
        temperature: τ.
        learnable_temperature: learn τ (initialised at ``temperature``).
    """

    def __init__(self, temperature: float, learnable_temperature: bool = False) -> None:
        super().__init__()
        log_scale = torch.tensor(math.log(1.0 / temperature))
        if learnable_temperature:
            self.log_scale = nn.Parameter(log_scale)
        else:
            self.register_buffer("log_scale", log_scale, persistent=False)

    @property
    def scale(self) -> torch.Tensor:
        return self.log_scale.clamp(max=math.log(100.0)).exp()
