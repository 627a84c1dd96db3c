"""A callback for the multi-node test's child processes (imported by class path; tests/helpers is on PYTHONPATH):
it records what each rank trained on and how many sentences its contrastive loss compared."""

from __future__ import annotations

import json
import os

from lightning import Callback


class BatchRecorder(Callback):
    """Writes ``<output>/rank<r>.json``: the pair sentences (token ids, padding removed) and monolingual blocks of
    every step, and for every sequence-contrast call the local and gathered batch sizes and whether this rank's rows
    sit at its offset in the gathered batch."""

    def __init__(self, output: str) -> None:
        self.output = output
        self.pairs: list[list[list[int]]] = []
        self.blocks: list[list[list[int]]] = []
        self.gathers: list[dict] = []

    def setup(self, trainer, pl_module, stage: str) -> None:
        import torch

        import veco_lightning.losses.sequence_contrastive as contrast

        real, rank = contrast.all_gather_with_grad, trainer.global_rank

        def spy(tensor):
            gathered = real(tensor)
            rows = tensor.shape[0]
            self.gathers.append({"local": rows, "gathered": gathered.shape[0],
                                 "own_rows_at_offset": bool(torch.equal(gathered[rank * rows:(rank + 1) * rows],
                                                                        tensor))})
            return gathered

        contrast.all_gather_with_grad = spy

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if "pairs" in batch:
            src = batch["pairs"]["src"]
            self.pairs.append([ids[mask.bool()].tolist() for ids, mask in zip(src["input_ids"], src["attention_mask"])])
        if "mmlm" in batch:
            self.blocks.append([ids.tolist() for ids in batch["mmlm"]["input_ids"]])

    def on_train_end(self, trainer, pl_module) -> None:
        os.makedirs(self.output, exist_ok=True)
        record = {"rank": trainer.global_rank, "world_size": trainer.world_size, "node_rank": trainer.node_rank,
                  "pairs": self.pairs, "blocks": self.blocks, "gathers": self.gathers}
        with open(os.path.join(self.output, f"rank{trainer.global_rank}.json"), "w") as handle:
            json.dump(record, handle)
