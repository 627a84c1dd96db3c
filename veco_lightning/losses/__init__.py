"""Objectives as plain PyTorch modules: tensors in, a scalar out."""

from veco_lightning.losses.masked_lm import IGNORE_INDEX, MaskedLMLoss, full_head_mlm_loss

__all__ = ["IGNORE_INDEX", "MaskedLMLoss", "full_head_mlm_loss"]
