"""One-off arm (not part of the package): benchmarks/gpu.py with XLMRobertaSelfAttention computing the query, key and
value projections as one product of the concatenated weights (one cast of the layer's fp32 input to bf16 instead of
three, one input gradient instead of three summed in fp32). Parameter names are unchanged. Run from the repository
root: python benchmarks/results/gpu_h200_compile/fused_qkv.py <gpu.py arguments>."""

import os
import sys

import torch
import torch.nn.functional as F
from transformers.models.xlm_roberta import modeling_xlm_roberta

from veco_lightning.models.dropout import ATTENTION  # noqa: F401  (registers the package's attention function)


def fused_forward(self, hidden_states, attention_mask=None, cache=None, **kwargs):
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    assert cache is None
    input_shape = hidden_states.shape[:-1]
    weight = torch.cat([self.query.weight, self.key.weight, self.value.weight])
    bias = torch.cat([self.query.bias, self.key.bias, self.value.bias])
    qkv = F.linear(hidden_states, weight, bias).view(*input_shape, 3, -1, self.attention_head_size)
    query, key, value = (qkv.select(-3, i).transpose(1, 2) for i in range(3))
    attention = ALL_ATTENTION_FUNCTIONS.get_interface(self.config._attn_implementation, None)
    out, weights = attention(self, query, key, value, attention_mask,
                             dropout=0.0 if not self.training else self.dropout.p, scaling=self.scaling, **kwargs)
    return out.reshape(*input_shape, -1).contiguous(), weights


modeling_xlm_roberta.XLMRobertaSelfAttention.forward = fused_forward
sys.path.insert(0, os.path.join(os.getcwd(), "benchmarks"))
import gpu  # noqa: E402

raise SystemExit(gpu.main(sys.argv[1:]))
