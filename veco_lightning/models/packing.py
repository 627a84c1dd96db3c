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

The packed length can be rounded up to a multiple (:func:`row_multiple`): filler tokens after the real ones go
through the position-wise layers, attend to nothing, and are dropped on unpacking, so the result is the same. On
the CPU in bf16 this matters: oneDNN plans its bf16 (AVX-512 BF16 / AMX) matrix-product kernels per shape, and a
row count that changes every step plans them afresh each time. In a one-off micro-measurement on 2 cores of an AMX
Xeon (four ``small``-shaped layers forward and backward, row counts drawn from 1,400-2,040), rounding them up to 64
gave 1.75x and 1.84x the real rows per second of the exact counts in bf16 (two runs), and 0.96x in fp32, where MKL
plans nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True, eq=False)
class PackedRows:
    """Where the real tokens of a padded ``(rows, length)`` batch lie: ``index`` holds their flat positions in
    ``rows * length`` order, ``mask`` is the boolean attention mask (True: a real token); the packed sequence is
    rounded up to a multiple of ``multiple`` with :attr:`extra` filler tokens after them (none by default)."""

    index: torch.Tensor
    mask: torch.Tensor
    multiple: int = 1

    @classmethod
    def of(cls, attention_mask: torch.Tensor, multiple: int = 1) -> PackedRows:
        """The packing of a batch with this ``(rows, length)`` attention mask (1: a real token), its packed length
        rounded up to a multiple of ``multiple`` with filler tokens."""
        mask = attention_mask.bool()
        return cls(mask.reshape(-1).nonzero().squeeze(1), mask, max(1, multiple))

    @property
    def extra(self) -> int:
        """The number of filler tokens after the real ones."""
        return -self.tokens % self.multiple

    @property
    def rows(self) -> int:
        return self.mask.shape[0]

    @property
    def length(self) -> int:
        return self.mask.shape[1]

    @property
    def tokens(self) -> int:
        return self.index.numel()

    def pack(self, padded: torch.Tensor, fill: float = 0) -> torch.Tensor:
        """``(rows, length, ...)`` -> ``(1, tokens + extra, ...)``: the real positions, row after row, then the
        filler tokens, set to ``fill`` (give token and position ids a pad id)."""
        flat = padded.reshape(self.rows * self.length, *padded.shape[2:]).index_select(0, self.index)
        return pad_rows(flat, self.multiple, fill).unsqueeze(0)

    def unpack(self, packed: torch.Tensor, fill: float = 0.0) -> torch.Tensor:
        """``(1, tokens + extra, ...)`` -> ``(rows, length, ...)``, the pad positions set to ``fill`` (the filler
        tokens dropped)."""
        flat = packed.squeeze(0)[: self.tokens]
        out = flat.new_full((self.rows * self.length, *flat.shape[1:]), fill)
        return out.index_copy(0, self.index, flat).view(self.rows, self.length, *flat.shape[1:])

    def unpack_heads(self, packed: torch.Tensor) -> torch.Tensor:
        """An attention input ``(1, heads, tokens + extra, d)`` -> ``(rows, heads, length, d)`` (zeros at pads)."""
        return self.unpack(packed.squeeze(0).transpose(0, 1).unsqueeze(0)).transpose(1, 2)

    def attention_mask(self) -> torch.Tensor:
        """The boolean ``(rows, 1, 1, length)`` key mask SDPA broadcasts (True: attend)."""
        return self.mask[:, None, None, :]


def row_multiple(setting: int | None, like: torch.Tensor) -> int:
    """The multiple to round matrix-product row counts up to: ``setting`` when given, else 64 for a step computing
    in bf16 / fp16 on the CPU (autocast, or ``like`` itself in 16 bits), where oneDNN plans kernels per shape, and 1
    elsewhere (MKL's fp32 products and GPU kernels gain nothing from it)."""
    if setting is not None:
        return max(1, int(setting))
    if like.device.type != "cpu":
        return 1
    sixteen = (torch.bfloat16, torch.float16)
    if torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") in sixteen:
        return 64
    return 64 if like.dtype in sixteen else 1


def pad_rows(rows: torch.Tensor, multiple: int, fill: float = 0) -> torch.Tensor:
    """``(n, ...)`` -> ``(n', ...)``, ``n'`` the next multiple of ``multiple``: rows of ``fill`` appended (drop them
    from the result with ``[:n]``; their gradient is then zero)."""
    extra = -rows.shape[0] % multiple
    if not extra:
        return rows
    return torch.cat([rows, rows.new_full((extra, *rows.shape[1:]), fill)])


def xlmr_positions(input_ids: torch.Tensor, pad_id: int) -> torch.Tensor:
    """XLM-R's position ids of a padded batch (``create_position_ids_from_input_ids``): real tokens count from
    ``pad_id + 1``, pads get ``pad_id``."""
    real = input_ids.ne(pad_id).long()
    return torch.cumsum(real, dim=1) * real + pad_id
