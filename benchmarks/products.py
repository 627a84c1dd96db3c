"""The matrix products of training steps, recorded and replayed alone: how fast a step could be if nothing but its
products took time (``mfu.py --products``).

:class:`ProductsRecorder` is a Lightning callback that records every matrix product (``mm``, ``addmm``, ``bmm``,
``baddbmm`` and their ``out=`` forms) of the chosen training steps -- forward, backward and optimizer, after autocast
has chosen their dtypes -- through a ``TorchDispatchMode``, each tensor kept as its shape, strides and dtype only. It
works in the benchmark's own process and in a ``veco-fit`` child (``--trainer.callbacks`` with ``class_path:
products.ProductsRecorder`` and ``benchmarks/`` on ``PYTHONPATH``), which writes the record as JSON (``output``).
Recording slows the steps it records: record untimed steps, or a run of its own.

:func:`replay` runs each recorded step's products in their order on random inputs of the recorded shapes, strides and
dtypes, made once per step and warm in cache between passes: the median time of a pass, a lower bound of the step's
time, and the products' FLOPs (``2 m n k`` each).
"""

from __future__ import annotations

import json
import statistics
import time
from typing import Any

import lightning
import torch
from torch.utils._python_dispatch import TorchDispatchMode

NAMES = ("mm", "addmm", "bmm", "baddbmm")
PRODUCTS = {getattr(getattr(torch.ops.aten, name), overload) for name in NAMES for overload in ("default", "out")}


def _spec(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return {"shape": list(value.shape), "stride": list(value.stride()), "dtype": str(value.dtype).split(".")[-1]}
    return value


class _Recording(TorchDispatchMode):
    def __init__(self, calls: list) -> None:
        super().__init__()
        self.calls = calls

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in PRODUCTS:
            self.calls.append([func.__name__, [_spec(a) for a in args], {k: _spec(v) for k, v in kwargs.items()}])
        return func(*args, **kwargs)


class ProductsRecorder(lightning.Callback):
    """Records the matrix products of training steps ``first_step`` to ``last_step`` (batch indices, both included;
    ``last_step`` ``None``: to the end) into :attr:`steps` (one list of ``[op, args, kwargs]`` per step), and writes
    them as JSON to ``output`` (if given) when training ends."""

    def __init__(self, first_step: int = 0, last_step: int | None = None, output: str | None = None) -> None:
        self.first_step, self.last_step, self.output = first_step, last_step, output
        self.steps: list[list] = []
        self._mode: _Recording | None = None

    def _chosen(self, batch_idx: int) -> bool:
        return batch_idx >= self.first_step and (self.last_step is None or batch_idx <= self.last_step)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self._chosen(batch_idx):
            self.steps.append([])
            self._mode = _Recording(self.steps[-1])
            self._mode.__enter__()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self._mode is not None:
            self._mode.__exit__(None, None, None)
            self._mode = None

    def on_train_end(self, trainer, pl_module) -> None:
        if self.output:
            with open(self.output, "w", encoding="utf-8") as handle:
                json.dump(self.steps, handle)


def load(path: str) -> list[list]:
    """The steps a :class:`ProductsRecorder` wrote to ``path`` (plain JSON)."""
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _make(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"shape", "stride", "dtype"}:
        shape, stride = value["shape"], value["stride"]  # as recorded: transposed views, a broadcast bias (stride 0)
        size = 1 + sum((n - 1) * step for n, step in zip(shape, stride)) if all(shape) else 0
        return torch.randn(size).to(getattr(torch, value["dtype"])).as_strided(shape, stride)
    return value


def _flops(name: str, args: list) -> int:
    a, b = (args[1], args[2]) if name.startswith(("addmm", "baddbmm")) else (args[0], args[1])
    batch = a.shape[0] if a.dim() == 3 else 1
    return 2 * batch * a.shape[-2] * a.shape[-1] * b.shape[-1]


def replay(steps: list[list], repeats: int = 5) -> dict[str, Any]:
    """Each step's products run alone (one warm-up pass, then ``repeats`` timed ones on the same inputs): the sum
    over the steps of each step's median pass (``seconds``), the products' FLOPs (``flops``), and how many products
    and steps there were."""
    seconds, flops, count = 0.0, 0, 0
    for calls in steps:
        ready = []
        for name, args, kwargs in calls:
            op_name, _, overload = name.partition(".")
            op = getattr(getattr(torch.ops.aten, op_name), overload or "default")
            ready.append((op, [_make(a) for a in args], {k: _make(v) for k, v in kwargs.items()}))
            flops += _flops(name, ready[-1][1])
        count += len(ready)
        times = []
        for repeat in range(repeats + 1):
            start = time.perf_counter()
            for op, args, kwargs in ready:
                op(*args, **kwargs)
            if repeat:
                times.append(time.perf_counter() - start)
        seconds += statistics.median(times)
    return {"seconds": seconds, "flops": flops, "products": count, "steps": len(steps)}
