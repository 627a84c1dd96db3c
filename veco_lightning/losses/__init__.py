"""Objectives as plain PyTorch modules: tensors in, a scalar out."""

from veco_lightning.losses.masked_lm import (
    IGNORE_INDEX,
    MaskedLMLoss,
    full_head_mlm_loss,
)
from veco_lightning.losses.sequence_contrastive import SequenceContrastiveLoss
from veco_lightning.losses.token_contrastive import TokenContrastiveLoss

__all__ = ["IGNORE_INDEX", "MaskedLMLoss", "SequenceContrastiveLoss", "TokenContrastiveLoss", "full_head_mlm_loss"]
