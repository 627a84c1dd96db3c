"""The word embedding's gradient as the rows a batch looks up, on CPU.

The encoder's word embedding is tied to the LM head's decoder. Its dense backward
(``torch.ops.aten.embedding_dense_backward``) allocates a zeroed ``(vocabulary, hidden)`` matrix, adds the batch's
rows into it, and autograd then adds that matrix to the head's own dense gradient of the same weight. On glibc a
matrix of that size is a fresh mapping whose pages fault on first touch: at the ``small`` shape with a 32k
vocabulary the zero fill alone took 47 ms of a 540 ms MLM step (``benchmarks/README.md``), against about 1 ms for
the same fill in memory already mapped.

:class:`RowGradEmbedding` makes the lookup's gradient sparse (``F.embedding(..., sparse=True)``: the looked-up rows
and their indices), so autograd adds those rows into the head's dense gradient in place: no zeroed matrix, no second
``(vocabulary, hidden)`` sum. Where no dense gradient joins them (an untied embedding, a step without an LM loss),
:func:`densify_grad`, run after every accumulation into ``.grad``, turns the sum back into a dense tensor, which is
what the dense backward would have produced, so that clipping, the fused AdamW and data-parallel reducers always see a
dense ``.grad``. The values equal the dense backward's up to the order of the additions.

Only on CPU, for a weight that is a plain ``nn.Parameter`` (not a view or a sharded ``DTensor`` of FSDP), and not
while ``torch.compile`` traces; every other case is ``nn.Embedding`` unchanged. The module holds the same parameter
under the same name, so checkpoints and ``save_pretrained`` exports do not change.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def densify_grad(parameter: torch.Tensor) -> None:
    """Post-accumulate-grad hook: a sparse ``.grad`` becomes dense."""
    if parameter.grad is not None and parameter.grad.layout != torch.strided:
        parameter.grad = parameter.grad.to_dense()


class RowGradEmbedding(nn.Embedding):
    """``nn.Embedding`` whose backward on CPU is the looked-up rows (a sparse gradient) and whose parameter's
    ``.grad`` is dense after every backward pass (:func:`densify_grad`); see the module's docs. ``sparse`` (the
    attribute data-parallel wrappers read) stays as given: with ``sparse=True`` it is ``nn.Embedding``."""

    @classmethod
    def of(cls, embedding: nn.Embedding) -> RowGradEmbedding:
        """A :class:`RowGradEmbedding` holding ``embedding``'s parameter (the same object, so a tied LM head stays
        tied) and options."""
        new = cls(embedding.num_embeddings, embedding.embedding_dim, embedding.padding_idx, embedding.max_norm,
                  embedding.norm_type, embedding.scale_grad_by_freq, embedding.sparse, device="meta")
        new.weight = embedding.weight
        new.train(embedding.training)
        return new

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        weight = self.weight
        rows = (not self.sparse and weight.requires_grad and weight.device.type == "cpu"
                and type(weight) is nn.Parameter and not torch.compiler.is_compiling())
        if rows:
            # Here rather than once: a copy of the module (deepcopy) holds a new parameter without the hook.
            hooks = weight._post_accumulate_grad_hooks
            if not hooks or densify_grad not in hooks.values():
                weight.register_post_accumulate_grad_hook(densify_grad)
        return F.embedding(input, weight, self.padding_idx, self.max_norm, self.norm_type, self.scale_grad_by_freq,
                           self.sparse or rows)


def use_row_grad_embeddings(model: nn.Module) -> nn.Module:
    """Replace the input word embedding of a transformers model (``get_input_embeddings``) by a
    :class:`RowGradEmbedding` holding the same parameter, in place."""
    embedding = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    if type(embedding) is nn.Embedding:
        model.set_input_embeddings(RowGradEmbedding.of(embedding))
    return model
