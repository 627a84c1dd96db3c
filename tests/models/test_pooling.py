import pytest
import torch

from veco_lightning.models.pooling import pool_sentences, pool_words, select_layer


def test_mean_pooling_ignores_padding():
    hidden = torch.randn(2, 4, 3)
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
    pooled = pool_sentences(hidden, mask, "mean")
    torch.testing.assert_close(pooled[0], hidden[0, :3].mean(0))
    torch.testing.assert_close(pooled[1], hidden[1, :2].mean(0))
    torch.testing.assert_close(pool_sentences(hidden, mask, "cls"), hidden[:, 0])
    with pytest.raises(ValueError):
        pool_sentences(hidden, mask, "max")


@pytest.mark.parametrize("method", ["mean", "first"])
def test_word_pooling_matches_loops(method):
    g = torch.Generator().manual_seed(0)
    hidden = torch.randn(2, 7, 5, generator=g)
    word_index = torch.tensor([[-1, 0, 0, 1, 2, 2, -1], [-1, 0, 1, 1, 1, -1, -1]])
    words, present = pool_words(hidden, word_index, num_words=4, method=method)
    assert words.shape == (2, 4, 5)
    for b in range(2):
        for w in range(4):
            positions = [t for t in range(7) if word_index[b, t] == w]
            assert bool(present[b, w]) == bool(positions)
            if positions:
                expected = hidden[b, positions].mean(0) if method == "mean" else hidden[b, positions[0]]
                torch.testing.assert_close(words[b, w], expected)
            else:
                assert (words[b, w] == 0).all()


def test_select_layer_bounds():
    states = tuple(torch.full((1,), float(i)) for i in range(5))  # embeddings + 4 layers
    assert select_layer(states, 2).item() == 2 and select_layer(states, -1).item() == 4
    with pytest.raises(ValueError, match="4 layers"):
        select_layer(states, 5)
