"""Word alignment (SimAlign ArgMax / IterMax), Pharaoh parsing and AER."""

import pytest
import torch

from veco_lightning.evaluation.alignment import (
    aer_from_counts,
    alignment_counts,
    alignment_error_rate,
    argmax_alignment,
    itermax_alignment,
    parse_pharaoh,
    read_pharaoh,
    simalign_similarity,
)

# --- slow reference of SimAlign's IterMax, from the paper's description ----------------------------------------


def ref_first_argmax(values):
    best = 0
    for k in range(1, len(values)):
        if values[k] > values[best]:
            best = k
    return best


def ref_mutual(sim):
    n, m = len(sim), len(sim[0])
    row_best = [ref_first_argmax(sim[i]) for i in range(n)]
    col_best = [ref_first_argmax([sim[i][j] for i in range(n)]) for j in range(m)]
    return {(i, row_best[i]) for i in range(n) if col_best[row_best[i]] == i}


def ref_itermax(sim, max_iter=2, alpha=0.9):
    n, m = len(sim), len(sim[0])
    links = ref_mutual(sim)
    if min(n, m) <= 2:
        return links
    for _ in range(max_iter - 1):
        rows = {i for i, _ in links}
        cols = {j for _, j in links}
        if len(rows) == n or len(cols) == m:
            break
        weighted = []
        for i in range(n):
            weighted.append([])
            for j in range(m):
                done = (i in rows) + (j in cols)
                weighted[i].append(sim[i][j] * (1.0 if done == 0 else alpha if done == 1 else 0.0))
        new = {(i, j) for i, j in ref_mutual(weighted) if not (i in rows and j in cols)}
        if not new:
            break
        links |= new
    return links


def ref_aer(pred, sure, possible):
    a_s = a_p = a = s = 0
    for p_links, s_links, pos_links in zip(pred, sure, possible):
        for link in p_links:
            a += 1
            a_s += link in s_links
            a_p += link in s_links or link in pos_links
        s += len(s_links)
    return 1 - (a_s + a_p) / (a + s)


# --- tests ---------------------------------------------------------------------------------------------------


def test_parse_pharaoh_sure_and_possible():
    sure, possible = parse_pharaoh("0-0 1?2 2-1")
    assert sure == {(0, 0), (2, 1)}
    assert possible == {(0, 0), (1, 2), (2, 1)}
    sure, possible = parse_pharaoh("0-1p 2-3-p 4-5s 6-7-S\n")
    assert sure == {(4, 5), (6, 7)} and possible == {(0, 1), (2, 3), (4, 5), (6, 7)}
    assert parse_pharaoh("1-1 2?3", one_based=True) == ({(0, 0)}, {(0, 0), (1, 2)})
    # the .talp layout (lilt/alignment-scripts, awesome-align, SimAlign): 'ipj' is possible
    assert parse_pharaoh("1-1 2p3 10p12", one_based=True) == ({(0, 0)}, {(0, 0), (1, 2), (9, 11)})
    with pytest.raises(ValueError, match="'2p3p'"):
        parse_pharaoh("2p3p")
    with pytest.raises(ValueError, match="opens with a sentence id .'7' and a TAB, SimAlign's layout"):
        parse_pharaoh("7\t0-0 1p1")
    assert parse_pharaoh("   ") == (set(), set())


def test_read_pharaoh_and_errors_name_file_and_line(tmp_path):
    path = tmp_path / "gold.talp"
    path.write_text("0-0 1?2 2-1\n\n3-3\n", encoding="utf-8")
    assert read_pharaoh(str(path)) == [({(0, 0), (2, 1)}, {(0, 0), (1, 2), (2, 1)}), (set(), set()),
                                       ({(3, 3)}, {(3, 3)})]
    path.write_text("0-0\n0-0 1:2\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"gold\.talp:2: .*'1:2'"):
        read_pharaoh(str(path))
    path.write_text("0-0\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"gold\.talp:1: .*index 0.*alignments_one_based: false"):
        read_pharaoh(str(path), one_based=True)


def test_argmax_on_known_matrix():
    sim = torch.tensor([[0.9, 0.1, 0.1], [0.8, 0.3, 0.1], [0.1, 0.2, 0.9]])
    # rows pick 0, 0, 2; columns pick 0, 1, 2: source 1 and target 1 are not each other's best
    assert argmax_alignment(sim) == {(0, 0), (2, 2)}
    assert argmax_alignment(torch.zeros(0, 3)) == set()


def test_itermax_finds_links_argmax_misses():
    sim = torch.tensor([[0.9, 0.1, 0.1], [0.8, 0.3, 0.1], [0.1, 0.2, 0.9]])
    # second pass: row 1 is free, column 0 taken -> 0.9 * 0.8 = 0.72 beats 0.3; column 0's best is now row 1
    assert itermax_alignment(sim) == {(0, 0), (2, 2), (1, 0)}
    assert itermax_alignment(sim, max_iter=1) == argmax_alignment(sim)
    assert itermax_alignment(sim, alpha=0.3) == {(0, 0), (2, 2), (1, 1)}  # 0.24 < 0.3: the free pair wins


def test_itermax_returns_argmax_for_short_sentences():
    sim = torch.tensor([[0.9, 0.8, 0.7], [0.8, 0.1, 0.2]])  # min(n, m) = 2: as the released SimAlign code
    assert itermax_alignment(sim) == argmax_alignment(sim) == {(0, 0)}


@pytest.mark.parametrize("seed", range(10))
def test_itermax_matches_reference_on_random_matrices(seed):
    g = torch.Generator().manual_seed(seed)
    extra = 0
    for n in range(1, 8):
        for m in range(1, 8):
            sim = torch.rand(n, m, generator=g)
            for max_iter in (1, 2, 3):
                got = itermax_alignment(sim, max_iter=max_iter)
                assert got == ref_itermax(sim.tolist(), max_iter=max_iter), (n, m, max_iter)
                assert got >= argmax_alignment(sim)
                extra += len(got - argmax_alignment(sim))
    assert extra > 0


def test_itermax_rejects_negative_similarities():
    with pytest.raises(ValueError, match="non-negative"):
        itermax_alignment(torch.tensor([[0.5, -0.2, 0.1]] * 3))
    words = torch.randn(4, 8, generator=torch.Generator().manual_seed(0))
    sim = simalign_similarity(words, words)
    assert sim.min() >= 0 and itermax_alignment(sim) == {(i, i) for i in range(4)}


def test_aer_perfect_prediction_is_zero():
    sure = [{(0, 0), (1, 1)}, {(0, 1)}]
    possible = [{(2, 2)}, {(1, 0)}]  # callers may omit S from P
    assert alignment_error_rate(sure, sure, possible) == 0.0
    assert alignment_error_rate([{(0, 0), (1, 1), (2, 2)}, {(0, 1), (1, 0)}], sure, possible) == 0.0


def test_aer_hand_computed():
    # sentence 1: A = {00, 11, 22}, S = {00, 12}, P = S + {11}: |A∩S| = 1, |A∩P| = 2
    # sentence 2: A = {01}, S = {00}, P = {00, 01}:           |A∩S| = 0, |A∩P| = 1
    pred = [{(0, 0), (1, 1), (2, 2)}, {(0, 1)}]
    sure = [{(0, 0), (1, 2)}, {(0, 0)}]
    possible = [{(0, 0), (1, 2), (1, 1)}, {(0, 0), (0, 1)}]
    assert alignment_counts(pred, sure, possible) == (1, 3, 4, 3)
    assert alignment_error_rate(pred, sure, possible) == pytest.approx(1 - 4 / 7)
    assert alignment_error_rate(pred, sure, possible) == pytest.approx(ref_aer(pred, sure, possible))
    assert aer_from_counts(0, 0, 0, 0) != aer_from_counts(0, 0, 0, 0)  # NaN when nothing to score
    with pytest.raises(ValueError, match="one alignment per sentence pair"):
        alignment_counts(pred, sure[:1], possible)
