"""Padding-free encoding: the rows of a padded batch packed into one sequence of their real tokens.

A padded ``(B, L)`` batch spends every projection, feed-forward, layer norm and dropout of the encoder on its pad
positions as well. :class:`PackedRows` lays the real tokens of all rows end to end as one ``(1, N)`` sequence
(``N`` = the number of ones in the attention mask), which the encoder's position-wise layers run on as they are;
only attention needs the rows apart. The attention function of :mod:`veco_lightning.models.dropout` receives the
packing as the keyword argument ``packed_rows`` (transformers hands a model's extra keyword arguments on to its
attention functions), scatters the packed queries, keys and values back into padded ``(B, H, L, d)`` tensors,
attends with the padding mask, and gathers the real rows of the result: four copies of the activations per layer
against the pad positions of every other operation. The result is the padded encoder's at every real position.

This is the CPU counterpart of FlashAttention's variable-length kernels (``cu_seqlens``), which need no padded copy;
it runs on any device through the same attention function.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True, eq=False)
class PackedRows:
    """Where the real tokens of a padded ``(rows, length)`` batch lie: ``index`` holds their flat positions in
    ``rows * length`` order, ``mask`` is the boolean attention mask (True: a real token)."""

    index: torch.Tensor
    mask: torch.Tensor

    @classmethod
    def of(cls, attention_mask: torch.Tensor) -> PackedRows:
        """The packing of a batch with this ``(rows, length)`` attention mask (1: a real token)."""
        mask = attention_mask.bool()
        return cls(mask.reshape(-1).nonzero().squeeze(1), mask)

    @property
    def rows(self) -> int:
        return self.mask.shape[0]

    @property
    def length(self) -> int:
        return self.mask.shape[1]

    @property
    def tokens(self) -> int:
        return self.index.numel()

    def pack(self, padded: torch.Tensor) -> torch.Tensor:
        """``(rows, length, ...)`` -> ``(1, tokens, ...)``: the real positions, row after row."""
        return padded.reshape(self.rows * self.length, *padded.shape[2:]).index_select(0, self.index).unsqueeze(0)

    def unpack(self, packed: torch.Tensor, fill: float = 0.0) -> torch.Tensor:
        """``(1, tokens, ...)`` -> ``(rows, length, ...)``, the pad positions set to ``fill``."""
        flat = packed.squeeze(0)
        out = flat.new_full((self.rows * self.length, *flat.shape[1:]), fill)
        return out.index_copy(0, self.index, flat).view(self.rows, self.length, *flat.shape[1:])

    def unpack_heads(self, packed: torch.Tensor) -> torch.Tensor:
        """An attention input ``(1, heads, tokens, d)`` -> ``(rows, heads, length, d)`` (zeros at pads)."""
        return self.unpack(packed.squeeze(0).transpose(0, 1).unsqueeze(0)).transpose(1, 2)

    def attention_mask(self) -> torch.Tensor:
        """The boolean ``(rows, 1, 1, length)`` key mask SDPA broadcasts (True: attend)."""
        return self.mask[:, None, None, :]


def xlmr_positions(input_ids: torch.Tensor, pad_id: int) -> torch.Tensor:
    """XLM-R's position ids of a padded batch (``create_position_ids_from_input_ids``): real tokens count from
    ``pad_id + 1``, pads get ``pad_id``."""
    real = input_ids.ne(pad_id).long()
    return torch.cumsum(real, dim=1) * real + pad_id
