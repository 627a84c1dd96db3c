"""Optimizer parameter groups and the default learning-rate schedule."""

from __future__ import annotations

from collections.abc import Mapping

from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


def parameter_ndims(model: nn.Module) -> dict[int, int]:
    """Each parameter's number of dimensions, by ``id``, as the model defines it.

    Take it before a strategy wraps the model (``__init__``, ``setup``): under FSDP (``use_orig_params``, as
    Lightning's ``FSDPStrategy`` sets it) every parameter is, between passes, a 1-D view of this rank's shard, and
    its own ``ndim`` no longer tells a matrix from a bias. The parameter objects stay the same. A parameter that
    DeepSpeed ZeRO-3 already partitioned (a model built under ``deepspeed.zero.Init``) keeps its shape in ``ds_shape``.
    """
    return {id(param): len(getattr(param, "ds_shape", param.shape)) for param in model.parameters()}


def weight_decay_groups(model: nn.Module, weight_decay: float, ndims: Mapping[int, int] | None = None) -> list[dict]:
    """Two parameter groups: matrices (decayed) and biases / norm weights (not decayed), as in BERT and XLM-R.

    Decaying LayerNorm gains or biases only pulls them toward 0, which hurts; every 1-D parameter is exempt.
    Embeddings are 2-D and decayed, as in RoBERTa.

    Args:
        model: the module whose trainable parameters are grouped.
        weight_decay: the matrices' decay.
        ndims: :func:`parameter_ndims` taken before the model was sharded; a parameter it does not hold is judged by
            its own ``ndim``.
    """
    ndims = ndims or {}
    decay, no_decay = [], []
    for param in model.parameters():
        if param.requires_grad:
            (no_decay if ndims.get(id(param), param.ndim) < 2 else decay).append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


class WarmupLinearSchedule(LambdaLR):
    """Linear warm-up from 0 to the peak learning rate, then linear decay to ``final_ratio`` x peak (BERT, XLM-R).

    Args:
        optimizer: wrapped optimizer.
        warmup_steps: warm-up length in optimizer steps; a value below 1 is a fraction of ``total_steps``.
        total_steps: length of the schedule; ``None`` lets :class:`~veco_lightning.module.VecoPretrainModule`
            fill in the trainer's ``estimated_stepping_batches``.
        final_ratio: learning rate at the end, as a fraction of the peak.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        warmup_steps: float = 0.06,
        total_steps: int | None = None,
        final_ratio: float = 0.0,
    ) -> None:
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps
        self.final_ratio = final_ratio
        super().__init__(optimizer, self.factor)

    def set_total_steps(self, total_steps: int) -> None:
        """Fix the schedule length once it is known and re-apply the current step's factor."""
        self.total_steps = total_steps
        for group, base_lr in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = base_lr * self.factor(self.last_epoch)
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def factor(self, step: int) -> float:
        total = self.total_steps or 1
        warmup = self.warmup_steps * total if self.warmup_steps < 1 else self.warmup_steps
        if step < warmup:
            return (step + 1) / (warmup + 1)
        progress = min(1.0, (step - warmup) / max(1.0, total - warmup))
        return 1.0 - (1.0 - self.final_ratio) * progress
