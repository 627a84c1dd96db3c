"""The word embedding's row gradient (``encoder.sparse_embedding_grad``): the same dense ``.grad`` as torch's dense
embedding backward, tied or alone, accumulated, copied, and under DDP with two gloo ranks."""

import copy

import gloo
import pytest
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from veco_lightning.data.readers import ParallelSource
from veco_lightning.data.synonym import SynonymAlignedDataModule
from veco_lightning.models.embedding import RowGradEmbedding
from veco_lightning.models.encoder import EncoderSpec, build_encoder
from veco_lightning.module import VecoPretrainModule

IDS = torch.tensor([[1, 3, 3, 7, 0], [2, 1, 9, 3, 3]])  # 1 is the padding index; rows repeat


class Tied(nn.Module):
    """An embedding with a tied output projection (as the encoder's LM head), or without one."""

    def __init__(self, embedding: nn.Embedding, tied: bool = True) -> None:
        super().__init__()
        self.embedding = embedding
        self.head = nn.Linear(embedding.embedding_dim, embedding.num_embeddings, bias=False) if tied else None
        if tied:
            self.head.weight = embedding.weight

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        states = self.embedding(ids).tanh()
        loss = states.pow(2).sum()
        return loss + self.head(states).logsumexp(-1).sum() if self.head is not None else loss


def _pair(tied: bool = True) -> tuple[Tied, Tied]:
    torch.manual_seed(0)
    dense = nn.Embedding(12, 4, padding_idx=1, dtype=torch.float64)
    rows = RowGradEmbedding.of(copy.deepcopy(dense))
    return Tied(dense, tied), Tied(rows, tied)


@pytest.mark.parametrize("tied", [True, False])
def test_same_dense_grad_as_the_dense_backward(tied):
    dense, rows = _pair(tied)
    assert not rows.embedding.weight.grad_fn and type(rows.embedding.weight) is nn.Parameter
    for _ in range(2):  # the second pass accumulates into the first's .grad
        dense(IDS).backward()
        rows(IDS).backward()
        grad = rows.embedding.weight.grad
        assert grad.layout == torch.strided
        torch.testing.assert_close(grad, dense.embedding.weight.grad, rtol=0, atol=1e-13)
    if not tied:
        assert not grad[1].any()  # the lookup gives the padding row no gradient (the head does)


def test_keeps_the_tie_and_the_parameter():
    torch.manual_seed(0)
    model = build_encoder(EncoderSpec(preset="tiny", max_length=32), vocab_size=50)
    embedding = model.get_input_embeddings()
    assert type(embedding) is RowGradEmbedding and embedding.weight is model.lm_head.decoder.weight
    assert list(embedding.state_dict()) == ["weight"] and embedding.padding_idx == model.config.pad_token_id
    plain = build_encoder(EncoderSpec(preset="tiny", max_length=32, sparse_embedding_grad=False), vocab_size=50)
    assert type(plain.get_input_embeddings()) is nn.Embedding


def test_a_copy_keeps_dense_grads():
    """A deep copy holds a new parameter without the original's hook: the module registers it again."""
    _, rows = _pair(tied=False)
    copied = copy.deepcopy(rows)
    copied(IDS).backward()
    assert copied.embedding.weight.grad.layout == torch.strided


def test_sparse_true_stays_sparse_and_no_grad_is_a_plain_lookup():
    embedding = RowGradEmbedding(10, 3, sparse=True)
    embedding(IDS).sum().backward()
    assert embedding.weight.grad.layout == torch.sparse_coo  # the user's own choice, for a sparse optimizer
    frozen = RowGradEmbedding(10, 3)
    frozen.weight.requires_grad_(False)
    assert torch.equal(frozen(IDS), frozen.weight[IDS])


def test_module_losses_and_grads_equal_the_dense_backward(corpus_dir, tokenizer_dir, tmp_path):
    """Every objective of a TLM + pairs batch (the pairs pass has no LM head: its lookup's rows join the TLM head's
    dense gradient) gives the dense backward's gradients."""
    (tmp_path / "en-ru.tsv").write_text("dog\tсобака\ncar\tмашина\nriver\tреку\nhouse\tдом\n", encoding="utf-8")
    dm = SynonymAlignedDataModule(
        files={"ru-en": ParallelSource(src=str(corpus_dir / "ru.txt"), tgt=str(corpus_dir / "en.txt"))},
        dictionaries={"en-ru": [str(tmp_path / "en-ru.tsv")]}, tokenizer=str(tokenizer_dir), max_length=64,
        batch_size=6, val_pairs=0, cache_dir=str(tmp_path / "cache"))
    dm.prepare_data()
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    grads = []
    for sparse in (False, True):
        torch.manual_seed(0)
        module = VecoPretrainModule(EncoderSpec(preset="tiny", max_length=64, sparse_embedding_grad=sparse),
                                    vocab_size=dm.vocab_size).double().eval()
        module.log_losses = lambda *args: None
        module.training_step(batch, 0).backward()
        grads.append({n: p.grad for n, p in module.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys() and len(grads[0]) > 10
    for name, grad in grads[0].items():
        assert grads[1][name].layout == torch.strided
        torch.testing.assert_close(grads[1][name], grad, rtol=0, atol=1e-12)


def _ddp_worker(rank, world_size, out):
    results = {}
    for tied in (True, False):
        dense, rows = _pair(tied)
        ids = IDS.roll(rank, dims=1)  # each rank its own batch
        grads = []
        for model in (dense, rows):
            wrapped = DistributedDataParallel(model)
            for _ in range(2):  # the second step's first rank-local grad starts from a dense .grad
                model.zero_grad(set_to_none=True)
                wrapped(ids).backward()
            grads.append(model.embedding.weight.grad.clone())
        results[tied] = grads
    if rank == 0:
        torch.save(results, out)
    dist.barrier()


def test_ddp_reduces_the_same_gradient(tmp_path):
    """DDP expects dense gradients (``sparse`` stays ``False``); a step whose only gradient of the embedding is
    its rows (no tied head) reaches the reducer dense, and both ranks average what the dense backward gives."""
    out = tmp_path / "grads.pt"
    gloo.spawn(_ddp_worker, (str(out),))
    for tied, (dense, rows) in torch.load(out).items():
        assert rows.layout == torch.strided, tied
        torch.testing.assert_close(rows, dense, rtol=0, atol=1e-13)
