"""BUCC-style mining: candidates and threshold search against brute force, planted tasks, file round trips."""

import math
import random

import pytest
import torch

from veco_lightning.evaluation.bitext_mining import (
    best_threshold,
    bucc_files,
    candidates_to_ids,
    evaluate_mining,
    main,
    make_bucc_task,
    mine_candidates,
    prf_at_threshold,
    read_bucc,
)

# --- slow references -----------------------------------------------------------------------------------------


def ref_margin_matrix(src, tgt, k=4):
    def cos(a, b):
        return sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))

    c = [[cos(x, y) for y in tgt] for x in src]
    fwd = [sum(sorted(row, reverse=True)[: min(k, len(tgt))]) / (2 * min(k, len(tgt))) for row in c]
    bwd = []
    for j in range(len(tgt)):
        column = sorted((c[i][j] for i in range(len(src))), reverse=True)
        bwd.append(sum(column[: min(k, len(src))]) / (2 * min(k, len(src))))
    return [[c[i][j] / (fwd[i] + bwd[j]) for j in range(len(tgt))] for i in range(len(src))]


def ref_candidates(src, tgt, k=4):
    m = ref_margin_matrix(src, tgt, k)
    pairs = {}
    for i, row in enumerate(m):
        j = max(range(len(row)), key=lambda j: (row[j], -j))
        pairs[(i, j)] = row[j]
    for j in range(len(tgt)):
        i = max(range(len(src)), key=lambda i: (m[i][j], -i))
        pairs[(i, j)] = m[i][j]
    return pairs


def ref_best_f1(candidates, gold):
    """Try every threshold: each candidate score, and 'predict nothing'."""
    best = 0.0
    for t in sorted({s for _, _, s in candidates}):
        predicted = {(a, b) for a, b, s in candidates if s >= t}
        correct = len(predicted & gold)
        if correct:
            p, r = correct / len(predicted), correct / len(gold)
            best = max(best, 2 * p * r / (p + r))
    return best


def planted_task(n_gold=60, n_distract=200, dim=32, noise=0.2, seed=0):
    """Gold pairs are noisy copies; distractors on each side are unrelated random vectors."""
    g = torch.Generator().manual_seed(seed)
    gold_src = torch.randn(n_gold, dim, generator=g)
    src = torch.cat([gold_src, torch.randn(n_distract, dim, generator=g)])
    gold_trg = gold_src + noise * torch.randn(n_gold, dim, generator=g)
    trg = torch.cat([gold_trg, torch.randn(n_distract, dim, generator=g)])
    src_perm, trg_perm = torch.randperm(len(src), generator=g), torch.randperm(len(trg), generator=g)
    src, trg = src[src_perm], trg[trg_perm]
    src_pos = {int(old): new for new, old in enumerate(src_perm)}
    trg_pos = {int(old): new for new, old in enumerate(trg_perm)}
    return src, trg, {(src_pos[i], trg_pos[i]) for i in range(n_gold)}


# --- candidates ----------------------------------------------------------------------------------------------


def test_candidates_equal_brute_force_union():
    src, trg, _ = planted_task(n_gold=8, n_distract=14, dim=16, noise=0.5, seed=1)
    src, trg = src[:20], trg[:17]  # unequal sides
    ref = ref_candidates(src.tolist(), trg.tolist())
    got = mine_candidates(src, trg, k=4, chunk_size=6)
    assert {(i, j) for i, j, _ in got} == set(ref)
    assert len(got) == len(ref)  # deduplicated
    assert [s for _, _, s in got] == pytest.approx([ref[(i, j)] for i, j, _ in got], rel=1e-5, abs=1e-5)
    assert [s for _, _, s in got] == sorted((s for _, _, s in got), reverse=True)


def test_one_to_one_uses_each_sentence_once():
    src, trg, _ = planted_task(n_gold=10, n_distract=30, seed=2)
    union = mine_candidates(src, trg)
    kept = mine_candidates(src, trg, one_to_one=True)
    assert set(kept) <= set(union)
    assert len({i for i, _, _ in kept}) == len(kept) == len({j for _, j, _ in kept})


def test_planted_task_is_mined_almost_perfectly():
    dev = planted_task(seed=3)
    test = planted_task(seed=4)
    threshold, f1, precision, recall = best_threshold(mine_candidates(dev[0], dev[1]), dev[2])
    assert f1 > 0.95 and precision > 0.95 and recall > 0.95
    result = evaluate_mining((mine_candidates(dev[0], dev[1]), dev[2]), (mine_candidates(test[0], test[1]), test[2]))
    assert result["threshold"] == threshold and result["dev_f1"] == f1
    assert result["test_f1"] > 0.9


# --- threshold search ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(15))
def test_threshold_search_equals_brute_force(seed):
    rng = random.Random(seed)
    n = rng.randint(1, 40)
    candidates = [(f"s{i}", f"t{rng.randint(0, 30)}", round(rng.uniform(0, 2), 1)) for i in range(n)]  # ties
    gold = {(a, b) for a, b, _ in candidates if rng.random() < 0.4} | {("s99", "t99")}  # one never proposed
    threshold, f1, precision, recall = best_threshold(candidates, gold)
    assert abs(f1 - ref_best_f1(candidates, gold)) < 1e-12
    if f1 > 0:
        assert prf_at_threshold(candidates, gold, threshold) == (f1, precision, recall)
        assert any(s >= threshold for _, _, s in candidates)
    else:
        assert threshold == math.inf and (precision, recall) == (0.0, 0.0)


def test_threshold_is_midpoint_and_hand_example():
    candidates = [("a", "1", 0.9), ("b", "2", 0.8), ("c", "3", 0.5), ("d", "4", 0.4)]
    gold = {("a", "1"), ("b", "2"), ("d", "5")}
    threshold, f1, precision, recall = best_threshold(candidates, gold)
    assert threshold == pytest.approx(0.65) and precision == 1.0 and recall == pytest.approx(2 / 3)
    assert f1 == pytest.approx(0.8)


def test_candidates_to_ids():
    assert candidates_to_ids([(1, 0, 0.5)], ["x0", "x1"], ["e0"]) == [("x1", "e0", 0.5)]


# --- files ---------------------------------------------------------------------------------------------------


def parallel_corpus(n=300):
    src = [f"quelle {i} satz" for i in range(n)]
    trg = [f"source {i} sentence" for i in range(n)]
    src[5], trg[5] = "", "empty partner"  # skipped: empty side
    src[7], trg[7] = src[6], "different"  # skipped: duplicate source
    return src, trg


def test_make_bucc_task_round_trip(tmp_path):
    src, trg = parallel_corpus()
    prefixes = make_bucc_task(src, trg, str(tmp_path), pair="de-en", n_gold=40, n_distractors=100, seed=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"de-en.{s}.{e}" for s in ("dev", "test")
                                                              for e in ("de", "en", "gold"))
    number = {}
    splits = {name: read_bucc(prefix) for name, prefix in prefixes.items()}
    for name, split in splits.items():
        assert len(split.gold) == 20 and len(split.src_ids) == len(split.trg_ids) == 70
        assert all(i.startswith("de-") and len(i) == 9 for i in split.src_ids)
        src_line = dict(zip(split.src_ids, split.src_sents))
        trg_line = dict(zip(split.trg_ids, split.trg_sents))
        for s_id, t_id in split.gold:  # gold ids resolve to aligned sentences
            assert src.index(src_line[s_id]) == trg.index(trg_line[t_id])
        src_numbers = {src.index(s) for s in split.src_sents}
        trg_numbers = {trg.index(t) for t in split.trg_sents}
        assert len(src_numbers & trg_numbers) == 20  # only gold pairs have their partner present
        assert 5 not in src_numbers | trg_numbers and 7 not in src_numbers
        number[name] = src_numbers | trg_numbers
    assert not number["dev"] & number["test"]  # disjoint splits
    assert bucc_files(str(tmp_path), "de-en", "test") == (prefixes["test"] + ".de", prefixes["test"] + ".en",
                                                         prefixes["test"] + ".gold")
    again = make_bucc_task(src, trg, str(tmp_path / "again"), pair="de-en", n_gold=40, n_distractors=100, seed=1)
    assert read_bucc(again["dev"]) == splits["dev"]  # deterministic given the seed


def test_make_bucc_task_refuses_too_small_corpus(tmp_path):
    src, trg = parallel_corpus(50)
    with pytest.raises(ValueError, match="n_distractors"):
        make_bucc_task(src, trg, str(tmp_path), n_gold=10, n_distractors=30)


def test_cli_writes_a_task(tmp_path, capsys):
    src, trg = parallel_corpus(60)
    (tmp_path / "a.txt").write_text("\n".join(src) + "\n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("\n".join(trg) + "\n", encoding="utf-8")
    main(["--src_file", str(tmp_path / "a.txt"), "--trg_file", str(tmp_path / "b.txt"), "--output_dir",
          str(tmp_path / "out"), "--pair", "fr-en", "--n_gold", "10", "--n_distractors", "20", "--seed", "3"])
    assert len(read_bucc(str(tmp_path / "out" / "fr-en.dev")).gold) == 5
    assert "fr-en.test" in capsys.readouterr().out


def test_read_bucc_src_trg_naming_and_optional_gold(tmp_path):
    (tmp_path / "x.src").write_text("s1\tHallo Welt\ns2\tmit\ttab\n", encoding="utf-8")
    (tmp_path / "x.trg").write_text("t1\tHello world\n", encoding="utf-8")
    split = read_bucc(str(tmp_path / "x"))
    assert split.src_sents == ["Hallo Welt", "mit\ttab"] and split.gold == set()
    (tmp_path / "x.gold").write_text("s1\tt1\n", encoding="utf-8")
    assert read_bucc(str(tmp_path / "x")).gold == {("s1", "t1")}


def test_read_bucc_errors_name_file_and_line(tmp_path):
    (tmp_path / "x.src").write_text("s1\tok\ns2 no tab here\n", encoding="utf-8")
    (tmp_path / "x.trg").write_text("t1\tfine\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"x\.src:2: expected 'id<TAB>sentence'"):
        read_bucc(str(tmp_path / "x"))
    (tmp_path / "x.src").write_text("s1\tok\n", encoding="utf-8")
    (tmp_path / "x.gold").write_text("s1\tt9\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"x\.gold:1: .*missing"):
        read_bucc(str(tmp_path / "x"))
    with pytest.raises(FileNotFoundError, match="de-en.test"):
        read_bucc(str(tmp_path / "de-en.test"))


def test_make_bucc_from_files_names_the_line_without_a_partner(tmp_path):
    from veco_lightning.evaluation.bitext_mining import make_bucc_task_from_files
    from veco_lightning.lexicon.badinput import BadInputError

    (tmp_path / "de.txt").write_text("".join(f"satz {i}\n" for i in range(30)), encoding="utf-8")
    (tmp_path / "en.txt").write_text("".join(f"sentence {i}\n" for i in range(29)), encoding="utf-8")
    with pytest.raises(BadInputError, match=r"de.txt:30: no partner line in .*en.txt, which has 29 lines"):
        make_bucc_task_from_files(str(tmp_path / "de.txt"), str(tmp_path / "en.txt"), str(tmp_path / "out"),
                                  pair="de-en", n_gold=10, n_distractors=10)


def test_bucc_splits_are_named_when_one_is_missing_and_a_threshold_needs_gold(tmp_path, tokenizer_dir, caplog):
    """A split the folder lacks is named with those it has; a dev split without gold cannot tune the threshold; the
    same split for both is scored with a warning that F1 is then an upper bound."""
    from transformers import AutoTokenizer

    from veco_lightning.evaluation.bitext_mining import bucc_splits
    from veco_lightning.evaluation.datasets import MiningEvalSet
    from veco_lightning.evaluation.sources import BuccSource
    from veco_lightning.lexicon.badinput import BadInputError

    src, trg = parallel_corpus(100)
    make_bucc_task(src, trg, str(tmp_path), pair="de-en", n_gold=10, n_distractors=20, seed=0)
    for name in ("de-en.test.de", "de-en.test.en", "de-en.test.gold"):  # BUCC 2018 names its splits otherwise
        (tmp_path / name).rename(tmp_path / name.replace(".test.", ".training."))
    assert bucc_splits(str(tmp_path), "de-en") == ["dev", "training"]
    with pytest.raises(FileNotFoundError, match=r"No BUCC split 'test' for de-en .* it has dev, training\. Set "
                                                r"dev_split .* and test_split"):
        bucc_files(str(tmp_path), "de-en", "test")
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    task = MiningEvalSet("bucc-de-en", BuccSource(str(tmp_path), ["de-en"], "dev", "training"), "de-en", tokenizer, 32)
    assert [len(split.gold) for split in task.splits] == [5, 5] and task.pair == "de-en"
    with caplog.at_level("WARNING"):
        shared = MiningEvalSet("bucc-de-en", BuccSource(str(tmp_path), ["de-en"], "dev", "dev"), "de-en", tokenizer,
                               32)
    assert "upper bound" in caplog.text
    # one split for both: its sentences are encoded once, and scored as both
    assert shared.splits[1] is shared.splits[0] and {item["key"][0] for item in shared.items} == {0}
    assert len(shared.items) == len(task.splits[0].src_ids) + len(task.splits[0].trg_ids)
    (tmp_path / "de-en.dev.gold").unlink()
    with pytest.raises(BadInputError, match=r"de-en\.dev\.gold: not found, .* tuned on the gold pairs of dev_split"):
        MiningEvalSet("bucc-de-en", BuccSource(str(tmp_path), ["de-en"], "dev", "training"), "de-en", tokenizer, 32)
