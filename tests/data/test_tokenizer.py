"""Tests for veco_lightning.data.tokenizer: training, loading and word-start tables."""

from __future__ import annotations

import json
import logging
import os
import random

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch
import transformers
from tokenizers import Tokenizer, models, pre_tokenizers

from veco_lightning.data.tokenizer import (
    FRESH_CACHE_TEXTS,
    TOKENIZER_CACHE,
    _quotas,
    _sample,
    encode_ids,
    encode_with_offsets,
    fresh_tokenizer_cache,
    load_tokenizer,
    main,
    source_tokenizer_cache,
    train_tokenizer,
    word_start_table,
)

EN_STEMS = "walk talk jump play work look call turn help start open paint cook clean learn".split()
DE_STEMS = "haus baum wasser feuer licht stadt land berg wald feld".split()
ZH_WORDS = ["我们", "学校", "学习", "中文", "今天", "天气", "很好", "朋友", "喜欢", "吃饭", "图书馆", "老师"]


def _corpus(n_en: int = 200, n_de: int = 120, n_zh: int = 100) -> dict[str, list[str]]:
    """Synthetic sentences with shared morphemes, so the Unigram trainer finds real subwords."""
    rng = random.Random(0)
    en = [" ".join(rng.choice(["", "un", "re", "pre"]) + rng.choice(EN_STEMS) + rng.choice(["", "s", "ed", "ing"])
                   for _ in range(8)) + "." for _ in range(n_en)]
    de = [" ".join(rng.choice(["", "ge", "ver", "be"]) + rng.choice(DE_STEMS) + rng.choice(["", "en", "ung", "lich"])
                   for _ in range(8)) for _ in range(n_de)]
    zh = ["".join(rng.choice(ZH_WORDS) for _ in range(6)) + "，" + rng.choice(ZH_WORDS) + "。" for _ in range(n_zh)]
    return {"en": en, "de": de, "zh": zh}


def _write(directory, corpus: dict[str, list[str]]) -> dict[str, list[str]]:
    """Write en/zh as .txt and de as .jsonl; return the language -> patterns dict."""
    directory.mkdir(parents=True, exist_ok=True)
    files = {}
    for lang, lines in corpus.items():
        if lang == "de":
            path = directory / f"{lang}.jsonl"
            path.write_text("".join(json.dumps({"text": line}) + "\n" for line in lines), encoding="utf-8")
        else:
            path = directory / f"{lang}.txt"
            path.write_text("\n".join(lines) + "\n\n", encoding="utf-8")  # trailing blank line is skipped
        files[lang] = [str(directory / f"{lang}.*")]
    return files


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("tok")
    files = _write(root / "corpus", _corpus())
    out = root / "tokenizer"
    return train_tokenizer(files, str(out), vocab_size=400, max_lines=None), out, files


def test_special_ids_and_mask_last(trained):
    tok, _, _ = trained
    assert tok.convert_tokens_to_ids(["<s>", "<pad>", "</s>", "<unk>"]) == [0, 1, 2, 3]
    assert (tok.bos_token_id, tok.pad_token_id, tok.eos_token_id, tok.unk_token_id) == (0, 1, 2, 3)
    assert (tok.cls_token_id, tok.sep_token_id) == (0, 2)
    assert tok.mask_token_id == len(tok) - 1
    assert 300 < len(tok) <= 400


def test_single_and_pair_formats(trained):
    tok, _, _ = trained
    a = tok("walking talks", add_special_tokens=False).input_ids
    b = tok("我们学习", add_special_tokens=False).input_ids
    assert tok("walking talks").input_ids == [0, *a, 2]
    assert tok("walking talks", "我们学习").input_ids == [0, *a, 2, 2, *b, 2]
    assert tok("a b", "c").input_ids[:1] == [0] and tok("a b", "c").input_ids.count(2) == 3


def test_mask_token_strips_left_space(trained):
    tok, _, _ = trained
    tokens = tok.convert_ids_to_tokens(tok("we walk <mask> today").input_ids)
    assert "<mask>" in tokens
    assert tokens[tokens.index("<mask>") - 1] != "▁"


def test_round_trip_through_auto_tokenizer(trained):
    tok, out, _ = trained
    assert (out / "tokenizer.json").is_file()
    reloaded = transformers.AutoTokenizer.from_pretrained(str(out))
    assert reloaded.get_vocab() == tok.get_vocab()
    texts = ["unwalking repaints the garden", "我们喜欢学习中文，很好。", "ＡＢＣ full-width", "verhauslichung <mask>"]
    for text in texts:
        assert reloaded(text).input_ids == tok(text).input_ids
    assert reloaded("walk", "学习").input_ids == tok("walk", "学习").input_ids
    # NFKC survives the round trip: the full-width comma encodes like the ASCII one.
    full_width = reloaded("我们，", add_special_tokens=False).input_ids
    assert full_width == reloaded("我们,", add_special_tokens=False).input_ids


def test_training_is_deterministic(trained, tmp_path):
    tok, _, files = trained
    again = train_tokenizer(files, str(tmp_path / "again"), vocab_size=400, max_lines=None)
    assert again.get_vocab() == tok.get_vocab()


def test_a_vocabulary_smaller_than_the_characters_says_how_large(trained, tmp_path):
    _, _, files = trained
    with pytest.raises(ValueError, match=r"vocab_size=20 is too small for this corpus.*hold \d+ distinct ones.*Raise "
                                         r"vocab_size well above \d+"):
        train_tokenizer(files, str(tmp_path / "small"), vocab_size=20, max_lines=None)


def test_glob_error_names_pattern(tmp_path):
    pattern = str(tmp_path / "missing" / "*.txt")
    with pytest.raises(FileNotFoundError, match="missing"):
        train_tokenizer({"en": [pattern]}, str(tmp_path / "out"), vocab_size=100)
    try:
        train_tokenizer({"en": [pattern]}, str(tmp_path / "out"), vocab_size=100)
    except FileNotFoundError as exc:
        assert pattern in str(exc) and "'en'" in str(exc)


def test_load_tokenizer_missing_local_dir(tmp_path):
    missing = str(tmp_path / "no_such_tokenizer")
    with pytest.raises(FileNotFoundError) as info:
        load_tokenizer(missing)
    assert missing in str(info.value)
    assert "veco-train-tokenizer" in str(info.value) and "tokenizer.json" in str(info.value)


def test_load_tokenizer_unknown_hub_name_offline():
    with pytest.raises(FileNotFoundError, match="veco-train-tokenizer"):
        load_tokenizer("veco-test-org/no-such-tokenizer")


def test_load_tokenizer_empty_dir(tmp_path):
    with pytest.raises(FileNotFoundError, match="veco-train-tokenizer"):
        load_tokenizer(str(tmp_path))


def _wordpiece(with_mask: bool) -> transformers.PreTrainedTokenizerBase:
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "play", "##ing", "##ed", "walk", "the", ".", "##s"]
    backend = Tokenizer(models.WordPiece({t: i for i, t in enumerate(vocab)}, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = dict(unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]")
    if with_mask:
        specials["mask_token"] = "[MASK]"
    return transformers.PreTrainedTokenizerFast(tokenizer_object=backend, **specials)


def test_load_tokenizer_requires_mask(tmp_path):
    _wordpiece(with_mask=False).save_pretrained(str(tmp_path))
    with pytest.raises(ValueError, match="mask"):
        load_tokenizer(str(tmp_path))


def test_load_tokenizer_accepts_complete_tokenizer(trained):
    _, out, _ = trained
    assert load_tokenizer(str(out)).mask_token == "<mask>"


def test_quotas_follow_smoothing():
    counts = {"en": 90000, "de": 9000, "zh": 1000}
    quotas = _quotas(counts, max_lines=1000, alpha=0.3)
    assert sum(quotas.values()) == 1000
    shares = {lang: quotas[lang] / 1000 for lang in counts}
    natural = {lang: n / 100000 for lang, n in counts.items()}
    assert shares["zh"] > natural["zh"] and shares["en"] < natural["en"]  # low-resource up-weighted
    assert quotas["en"] > quotas["de"] > quotas["zh"]
    assert _quotas(counts, max_lines=1000, alpha=1.0) == {"en": 900, "de": 90, "zh": 10}
    assert _quotas(counts, max_lines=None, alpha=0.3) == counts
    assert _quotas({"en": 50, "zh": 5}, max_lines=1000, alpha=0.3) == {"en": 50, "zh": 5}  # never duplicated
    capped = _quotas({"en": 9000, "zh": 10}, max_lines=1000, alpha=0.3)
    assert capped["zh"] == 10 and capped["en"] < 990  # the small language's unused share is not given away


def test_sampling_honours_max_lines_and_is_deterministic(tmp_path, caplog):
    files = _write(tmp_path / "corpus", _corpus(n_en=300, n_de=60, n_zh=30))
    groups = {lang: sorted(str(p) for p in (tmp_path / "corpus").glob(f"{lang}.*")) for lang in files}
    counts = {"en": 300, "de": 60, "zh": 30}
    quotas = _quotas(counts, max_lines=90, alpha=0.3)
    first = list(_sample(groups, counts, quotas, seed=0))
    assert len(first) == sum(quotas.values()) == 90
    assert first == list(_sample(groups, counts, quotas, seed=0))
    assert first != list(_sample(groups, counts, quotas, seed=1))
    with caplog.at_level(logging.INFO, logger="veco_lightning.data.tokenizer"):
        tok = train_tokenizer(files, str(tmp_path / "out"), vocab_size=200, max_lines=90, seed=0)
    for lang in counts:
        assert f"{lang}: using {quotas[lang]} of {counts[lang]} lines" in caplog.text
    assert tok.mask_token_id == len(tok) - 1


def test_small_corpus_warns_with_real_size(tmp_path, caplog):
    (tmp_path / "tiny.txt").write_text("hello world\nhello there\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="veco_lightning.data.tokenizer"):
        tok = train_tokenizer([str(tmp_path / "tiny.txt")], str(tmp_path / "out"), vocab_size=5000)
    assert len(tok) < 5000
    assert f"has {len(tok)} entries instead of the requested 5000" in caplog.text


def test_bad_line_names_the_line_or_is_skipped_with_a_count(tmp_path, caplog):
    from veco_lightning.lexicon.badinput import BadInputError

    path = tmp_path / "en.txt"
    path.write_bytes("".join(f"the dog number {i} runs home\n" for i in range(40)).encode() + b"caf\xe9 au lait\n")
    with pytest.raises(BadInputError, match=r"en.txt:41: not valid UTF-8.*or set on_bad_line: skip"):
        train_tokenizer([str(path)], str(tmp_path / "out"), vocab_size=60)
    with caplog.at_level(logging.WARNING, logger="veco_lightning.data.readers"):  # the option the error names
        main(["--files", str(path), "--output_dir", str(tmp_path / "out"), "--vocab_size", "60",
              "--on_bad_line", "skip"])
    skipped = [r.getMessage() for r in caplog.records if "skipped 1 bad line" in r.getMessage()]
    assert len(skipped) == 1 and "en.txt:41" in skipped[0]  # logged once, though the corpus is read twice
    tokenizer = load_tokenizer(str(tmp_path / "out"))  # a small corpus: fewer pieces than asked, as warned
    assert tokenizer.mask_token_id == len(tokenizer) - 1 and "é" not in "".join(tokenizer.get_vocab())


def test_word_start_table_sentencepiece(trained):
    tok, _, _ = trained
    table = word_start_table(tok)
    assert table.dtype == torch.bool and table.shape == (len(tok),)
    vocab = tok.get_vocab()
    for special in ("<s>", "<pad>", "</s>", "<unk>", "<mask>"):
        assert table[vocab[special]]
    starts = [p for p in vocab if p.startswith("▁")]
    assert starts and all(table[vocab[p]] for p in starts)
    continuation = [p for p in vocab if p.isascii() and p.isalpha() and len(p) > 1]
    assert continuation and not any(table[vocab[p]] for p in continuation)
    chinese = [p for p in vocab if "\u4e00" <= p[0] <= "\u9fff"]
    assert chinese and all(table[vocab[p]] for p in chinese)
    punctuation = [p for p in vocab if p in {".", ",", "。"}]
    assert punctuation and all(table[vocab[p]] for p in punctuation)  # punctuation is its own word
    # End to end: in "unwalking" only the first piece starts a word.
    ids = tok("unwalking", add_special_tokens=False).input_ids
    assert len(ids) > 1 and table[ids].tolist() == [True] + [False] * (len(ids) - 1)


def test_word_start_table_wordpiece():
    tok = _wordpiece(with_mask=True)
    table = word_start_table(tok)
    vocab = tok.get_vocab()
    assert table.shape == (len(tok),)
    assert not table[vocab["##ing"]] and not table[vocab["##ed"]] and not table[vocab["##s"]]
    assert table[vocab["play"]] and table[vocab["walk"]] and table[vocab["."]]
    for special in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"):
        assert table[vocab[special]]


def test_word_start_table_byte_level_bpe():
    vocab = {"<s>": 0, "</s>": 1, "<unk>": 2, "Ġthe": 3, "Ġplay": 4, "ing": 5, "ed": 6, "Ġwalk": 7}
    backend = Tokenizer(models.BPE(vocab, [], unk_token="<unk>"))
    tok = transformers.PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="</s>",
                                               unk_token="<unk>")
    table = word_start_table(tok)
    assert table[[3, 4, 7]].all() and not table[[5, 6]].any() and table[[0, 1, 2]].all()


def test_cli_main(tmp_path, capsys):
    files = _write(tmp_path / "corpus", _corpus(n_en=150, n_de=60, n_zh=60))
    out = tmp_path / "cli_tok"
    spec = f"{{en: [{files['en'][0]}], zh: [{files['zh'][0]}]}}"
    main(["--files", spec, "--output_dir", str(out), "--vocab_size", "300", "--max_lines", "null"])
    printed = capsys.readouterr().out
    assert str(out) in printed and "vocab size" in printed
    tok = load_tokenizer(str(out))
    assert str(len(tok)) in printed and tok.mask_token_id == len(tok) - 1


@pytest.mark.parametrize("max_length", [None, 5])
def test_backend_encoding_equals_the_wrapper(trained, max_length):
    """``encode_ids`` and ``encode_with_offsets`` call the Rust backend directly: the same ids (and offsets) as the
    ``transformers`` call, also after a wrapper call that left truncation and padding set on the backend."""
    tokenizer = trained[0]
    corpus = _corpus(20, 20, 20)
    texts = [*corpus["en"], *corpus["de"], *corpus["zh"], "", "  two  spaces ", "ﬁne ｶﾞ Straße", "x <mask> y"]
    cut = {"truncation": True, "max_length": max_length} if max_length is not None else {}
    expected = tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True, **cut)
    tokenizer(texts[:2], truncation=True, max_length=3, padding="max_length")  # settings left on the backend
    assert encode_ids(tokenizer, texts, max_length) == expected["input_ids"]
    assert any(len(ids) > 5 for ids in expected["input_ids"]) == (max_length is None)
    if max_length is not None:
        tokenizer(texts[:2], truncation=True, max_length=3, padding="max_length")
        pairs = encode_with_offsets(tokenizer, texts, max_length)
        assert [ids for ids, _ in pairs] == expected["input_ids"]
        assert [list(map(tuple, offsets)) for _, offsets in pairs] == [list(map(tuple, o))
                                                                     for o in expected["offset_mapping"]]


def test_word_cache_changes_no_encoding(trained):
    """The word cache ``load_tokenizer`` sizes (and data preparation empties per source) only remembers pieces: the
    ids and offsets are those of a tokenizer without a cache, with the words cached or not, and whatever its size."""
    out = trained[1]
    corpus = _corpus(40, 40, 40)
    texts = [*corpus["en"], *corpus["de"], *corpus["zh"], "ﬁne ｶﾞ Straße", "x <mask> y", "a" * 300]
    plain = load_tokenizer(str(out))
    plain.backend_tokenizer.model._resize_cache(0)  # nothing cached
    expected = [(encode_ids(plain, texts), encode_with_offsets(plain, texts, 16))]
    for capacity in (None, 5):
        tokenizer = load_tokenizer(str(out))
        if capacity is not None:
            fresh_tokenizer_cache(tokenizer, capacity)
        for _ in range(2):  # words new, then cached
            assert [(encode_ids(tokenizer, texts), encode_with_offsets(tokenizer, texts, 16))] == expected
        fresh_tokenizer_cache(tokenizer)
        assert encode_ids(tokenizer, texts) == expected[0][0]


def test_fresh_tokenizer_cache_leaves_tokenizers_without_one_alone():
    wordpiece = _wordpiece(with_mask=True)
    before = encode_ids(wordpiece, ["play walking"])
    fresh_tokenizer_cache(wordpiece)  # WordPiece has no word cache: nothing happens
    fresh_tokenizer_cache(object())  # nor for something that is not a fast tokenizer
    assert encode_ids(wordpiece, ["play walking"]) == before


class _RecordingModel:
    """A tokenizer model with a word cache that records what is done to it."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def _clear_cache(self) -> None:
        self.calls.append(("clear",))

    def _resize_cache(self, capacity: int) -> None:
        self.calls.append(("resize", capacity))


def test_a_large_source_starts_with_an_empty_cache_and_a_small_one_keeps_it():
    class Backend:
        model = _RecordingModel()

    class Fast:
        backend_tokenizer = Backend()

    tokenizer = Fast()
    source_tokenizer_cache(tokenizer, FRESH_CACHE_TEXTS - 1)
    assert tokenizer.backend_tokenizer.model.calls == []
    source_tokenizer_cache(tokenizer, FRESH_CACHE_TEXTS)
    assert tokenizer.backend_tokenizer.model.calls == [("clear",), ("resize", TOKENIZER_CACHE)]


def test_sources_tell_the_cache_their_size(tokenizer_dir, tmp_path, monkeypatch):
    """Data preparation asks for a fresh cache with each source's number of texts: both sides of a pair source's
    training pairs, a monolingual source's documents."""
    import veco_lightning.data.monolingual as monolingual
    import veco_lightning.data.parallel as parallel

    seen = []
    for module in (parallel, monolingual):
        monkeypatch.setattr(module, "source_tokenizer_cache", lambda tokenizer, texts: seen.append(texts))
    src, tgt = tmp_path / "de.txt", tmp_path / "en.txt"
    src.write_text("".join(f"ein Satz {k}\n" for k in range(30)), encoding="utf-8")
    tgt.write_text("".join(f"a sentence {k}\n" for k in range(30)), encoding="utf-8")
    parallel.ParallelDataModule(files={"de-en": parallel.ParallelSource(src=str(src), tgt=str(tgt))},
                                tokenizer=str(tokenizer_dir), max_length=32, batch_size=4, val_pairs=5,
                                cache_dir=str(tmp_path / "cache")).prepare_data()
    monolingual.MonolingualDataModule(files={"en": str(tgt)}, tokenizer=str(tokenizer_dir), max_length=8,
                                      batch_size=2, cache_dir=str(tmp_path / "cache")).prepare_data()
    assert seen == [2 * 25, 30]
