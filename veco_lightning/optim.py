"""Optimizer parameter groups, gradient norm and clipping (also under FSDP), and the default learning-rate
schedule."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

_NDIM = "_veco_ndim"  # a parameter's number of dimensions as the model defines it, noted on the parameter


def note_parameter_shapes(model: nn.Module) -> None:
    """Note on each of ``model``'s parameters its number of dimensions, for :func:`weight_decay_groups`; a parameter
    noted before keeps its note.

    Call it before a strategy wraps the model (``__init__``, ``setup``): under FSDP (``use_orig_params``, as
    Lightning's ``FSDPStrategy`` sets it) every parameter is, between passes, a 1-D view of this rank's shard, and its
    own ``ndim`` no longer tells a matrix from a bias. FSDP keeps the parameter objects, and so the note (as DeepSpeed
    keeps its ``ds_shape`` on them); a pickled parameter carries it too. A parameter that DeepSpeed ZeRO-3 already
    partitioned (a model built under ``deepspeed.zero.Init``) is noted from its ``ds_shape``.
    """
    for param in model.parameters():
        if not hasattr(param, _NDIM):
            setattr(param, _NDIM, len(getattr(param, "ds_shape", param.shape)))


def weight_decay_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two parameter groups: matrices (decayed) and biases / norm weights (not decayed), as in BERT and XLM-R.

    Decaying LayerNorm gains or biases only pulls them toward 0, which hurts; every 1-D parameter is exempt.
    Embeddings are 2-D and decayed, as in RoBERTa. A parameter's dimensions are those :func:`note_parameter_shapes`
    noted, where it did (the shapes before sharding), else its own.
    """
    decay, no_decay = [], []
    for param in model.parameters():
        if param.requires_grad:
            (no_decay if getattr(param, _NDIM, param.ndim) < 2 else decay).append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def sharded_root(trainer: Any) -> Any:
    """The FSDP root module that wraps the LightningModule (Lightning's ``FSDPStrategy``), or ``None``."""
    if not torch.distributed.is_available():
        return None
    from torch.distributed.fsdp import FullyShardedDataParallel

    model = getattr(trainer, "model", None)
    return model if isinstance(model, FullyShardedDataParallel) else None


def gradient_norm(module: nn.Module, trainer: Any = None) -> torch.Tensor | None:
    """The norm of ``module``'s whole gradient (``None`` when it has none on any rank; every rank calls this).

    Under FSDP each rank holds a shard of the gradients: their squared norms are summed over the ranks that shard the
    parameters (FSDP's sharding group; under ``NO_SHARD`` the gradients are whole on every rank).
    """
    grads = [p.grad.detach() for p in module.parameters() if p.grad is not None]
    sharded = sharded_root(trainer)
    if sharded is not None and sharded.sharding_strategy.name != "NO_SHARD":
        norms = [torch.linalg.vector_norm(g, dtype=torch.float32) for g in grads]
        device = next(module.parameters()).device
        squares = torch.stack(norms).square().sum() if norms else torch.zeros((), device=device)
        torch.distributed.all_reduce(squares, group=sharded.process_group)  # a collective: every rank, same step
        return squares.sqrt()
    if not grads:
        return None
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))


def clip_gradients(trainer: Any, optimizer: Optimizer, gradient_clip_val: float | None,
                   gradient_clip_algorithm: str | None) -> bool:
    """Clip the gradients where Lightning's own clipping refuses or is wrong; ``False``: leave them to Lightning.

    * Under FSDP the norm is FSDP's own (``clip_grad_norm_`` of the wrapped model, which sums the shards' squared
      norms over the ranks): ``torch.nn.utils.clip_grad_norm_`` would scale each rank's shard by that shard's own
      norm, and Lightning refuses norm clipping there.
    * Lightning refuses to clip the gradients of a fused optimizer under mixed precision, because a gradient scaler
      (fp16) must unscale them first; bf16 has no scaler, so there the gradients are clipped as they are.

    Lightning calls the clipping hook after a scaler (if any) unscaled the gradients, unless the optimizer is fused.
    """
    if not gradient_clip_val:
        return False
    scaler = getattr(trainer.precision_plugin, "scaler", False)  # None: no scaler; False: no such attribute
    fused = bool(optimizer.defaults.get("fused"))
    sharded = sharded_root(trainer)
    if gradient_clip_algorithm != "value" and sharded is not None and not (scaler and fused):
        sharded.clip_grad_norm_(gradient_clip_val)
        return True
    if scaler is None and fused:
        parameters = [p for group in optimizer.param_groups for p in group["params"]]
        if gradient_clip_algorithm == "value":
            torch.nn.utils.clip_grad_value_(parameters, gradient_clip_val)
        else:
            torch.nn.utils.clip_grad_norm_(parameters, gradient_clip_val)
        return True
    return False


def schedule_length(trainer: Any) -> float:
    """The run's optimizer steps (``trainer.estimated_stepping_batches``), for a learning-rate schedule built in
    ``configure_optimizers``, without costing a resumed run its place in the data.

    Bounded by epochs, the trainer counts the train loader's batches by building the loader, before a resumed run's
    checkpoint is restored, and then keeps that loader: the position the checkpoint saved is never loaded, and the
    run starts its epoch over (Lightning issue 20550). Dropping the early loader lets the fit loop build it again
    after the restore, position included; a run bounded by ``max_steps`` builds nothing here.
    """
    total = trainer.estimated_stepping_batches
    fit_loop = getattr(trainer, "fit_loop", None)
    if getattr(fit_loop, "_combined_loader", None) is not None:
        fit_loop._combined_loader = None
    return total


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
