import torch

from veco_lightning.data.masking import apply_mask, select_for_masking
from veco_lightning.losses.masked_lm import IGNORE_INDEX


def test_token_masking_rate_and_eligibility():
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(4, 1000, (64, 128), generator=g)
    eligible = torch.ones_like(ids, dtype=torch.bool)
    eligible[:, 0] = False
    eligible[:, -10:] = False
    selected = select_for_masking(ids, eligible, 0.15, generator=g)
    assert not selected[~eligible].any()
    rate = selected[eligible].float().mean().item()
    assert abs(rate - 0.15) < 0.01


def test_every_row_gets_a_prediction():
    ids = torch.randint(4, 50, (200, 3))
    eligible = torch.ones_like(ids, dtype=torch.bool)
    selected = select_for_masking(ids, eligible, 0.01)
    assert selected.any(dim=1).all()


def test_whole_word_masking_masks_words_together():
    # vocabulary: ids 10..19 start a word, 20..29 continue one
    word_starts = torch.zeros(30, dtype=torch.bool)
    word_starts[:20] = True
    g = torch.Generator().manual_seed(0)
    rows = []
    for _ in range(64):
        row = []
        while len(row) < 60:
            continuation = int(torch.randint(0, 4, (1,), generator=g))
            row += [int(torch.randint(10, 20, (1,), generator=g))]
            row += torch.randint(20, 30, (continuation,), generator=g).tolist()
        rows.append(row[:60])
    ids = torch.tensor(rows)
    eligible = torch.ones_like(ids, dtype=torch.bool)
    selected = select_for_masking(ids, eligible, 0.15, word_starts, generator=g)
    is_start = word_starts[ids]
    # a continuation piece is selected exactly when the piece before it is
    continuation = ~is_start[:, 1:]
    assert torch.equal(selected[:, 1:][continuation], selected[:, :-1][continuation])
    assert abs(selected.float().mean().item() - 0.15) < 0.03


def test_80_10_10_replacement():
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(4, 1000, (256, 128), generator=g)
    selected = torch.rand(ids.shape, generator=g) < 0.5
    random_ids = torch.arange(4, 1000)
    masked, labels = apply_mask(ids, selected, mask_token_id=3, random_token_ids=random_ids, generator=g)
    assert torch.equal(labels[selected], ids[selected])
    assert (labels[~selected] == IGNORE_INDEX).all()
    assert torch.equal(masked[~selected], ids[~selected])
    n = selected.sum().item()
    to_mask = (masked[selected] == 3).sum().item() / n
    kept = (masked[selected] == ids[selected]).sum().item() / n
    assert abs(to_mask - 0.8) < 0.01
    assert abs(kept - 0.1) < 0.01  # a random replacement equal to the original is ~0.1% of cases
