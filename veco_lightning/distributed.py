"""Cross-rank helpers for contrastive losses: gathering with gradient, and this rank's offset in the gathered batch."""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_fn


def world_info() -> tuple[int, int]:
    """``(rank, world_size)``, ``(0, 1)`` outside a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def all_gather_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate ``tensor`` ``(B, ...)`` from every rank along dim 0, in rank order, keeping the graph.

    The backward pass sums, over ranks, the gradient each rank's loss sends to a slice and returns it to the
    slice's owner (a reduce-scatter). With DDP then averaging parameter gradients, every rank's update equals the
    gradient of the mean loss over the global batch: the single-process result. A plain ``all_gather`` would cut
    the graph, and the other ranks' embeddings would act as constants (a quietly weaker loss). Every rank must pass
    the same ``B``.
    """
    _, world_size = world_info()
    if world_size == 1:
        return tensor
    return torch.cat(dist_fn.all_gather(tensor.contiguous()), dim=0)


def all_gather_no_grad(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate ``tensor`` ``(B, ...)`` from every rank along dim 0, in rank order (no graph: ids, keys)."""
    rank, world_size = world_info()
    if world_size == 1:
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(world_size)]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts)
