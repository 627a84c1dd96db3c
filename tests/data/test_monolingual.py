import json
import os

import pytest
import torch

from veco_lightning.data.monolingual import MonolingualDataModule, pack_blocks
from veco_lightning.datamodule import VecoDataModule
from veco_lightning.losses.masked_lm import IGNORE_INDEX


def test_pack_blocks_full_length_with_separators():
    blocks = pack_blocks([[5, 6, 7], [8, 9], [10, 11, 12, 13]], block_length=4, bos_id=0, eos_id=2)
    assert blocks == [[0, 5, 6, 7], [0, 2, 8, 9], [0, 2, 10, 11], [0, 12, 13, 2]]
    assert pack_blocks([[5]], block_length=8, bos_id=0, eos_id=2) == []


def _datamodule(corpus_dir, tokenizer_dir, tmp_path, **kwargs):
    files = {lang: str(corpus_dir / f"{lang}.txt") for lang in ("en", "ru", "zh")}
    defaults = dict(files=files, tokenizer=str(tokenizer_dir), max_length=16, batch_size=4, val_fraction=0.1,
                    cache_dir=str(tmp_path / "cache"))
    return MonolingualDataModule(**{**defaults, **kwargs})


def test_blocks_are_full_masked_and_cached(corpus_dir, tokenizer_dir, tmp_path):
    dm = _datamodule(corpus_dir, tokenizer_dir, tmp_path)
    dm.prepare_data()
    dm.setup("fit")
    assert set(dm.train_sets) == {"en", "ru", "zh"} and set(dm.val_sets) == {"en", "ru", "zh"}
    batch = next(iter(dm.train_dataloader()))["mmlm"]
    assert batch["input_ids"].shape == (4, 16)
    assert batch["attention_mask"].all()  # packed blocks: no padding
    assert (batch["input_ids"][:, 0] == dm.tokenizer.bos_token_id).all()
    labelled = batch["labels"] != IGNORE_INDEX
    assert labelled.any(dim=1).all()
    assert (batch["labels"][:, 0] == IGNORE_INDEX).all()  # <s> never predicted
    # cached: a second datamodule finds the blocks and does not re-tokenize
    cached = list((tmp_path / "cache" / "monolingual").iterdir())
    assert len(cached) == 3
    again = _datamodule(corpus_dir, tokenizer_dir, tmp_path)
    again.prepare_data()
    assert sorted((tmp_path / "cache" / "monolingual").iterdir()) == sorted(cached)


def test_text_prepared_again_with_other_settings(corpus_dir, tokenizer_dir, tmp_path):
    # The raw text's cache is deleted once its blocks are written; preparing the same files again under other
    # settings (another block length, another tokenizer: a new blocks cache) must read the files again.
    first = _datamodule(corpus_dir, tokenizer_dir, tmp_path)
    first.prepare_data()
    again = _datamodule(corpus_dir, tokenizer_dir, tmp_path, max_length=32)
    again.prepare_data()
    again.setup("fit")
    assert next(iter(again.train_dataloader()))["mmlm"]["input_ids"].shape == (4, 32)
    assert len(list((tmp_path / "cache" / "monolingual").iterdir())) == 6
    assert not list((tmp_path / "cache").glob("generator/**/*.arrow"))  # the raw text deleted once tokenized


def test_one_file_read_for_two_languages(corpus_dir, tokenizer_dir, tmp_path):
    # The second language reads the same raw text (same cache key) after the first's blocks are written and its raw
    # text deleted.
    shared = str(corpus_dir / "en.txt")
    dm = _datamodule(corpus_dir, tokenizer_dir, tmp_path, files={"en": shared, "xx": shared}, extra_languages=["xx"])
    dm.prepare_data()
    dm.setup("fit")
    assert len(dm.train_sets["en"]) == len(dm.train_sets["xx"]) > 0


def test_raw_text_cache_left_without_its_data_is_rebuilt(corpus_dir, tokenizer_dir, tmp_path):
    # A raw-text cache whose Arrow files are gone but whose dataset_info.json is left (as earlier versions of the
    # package left it after tokenizing) is rebuilt from the files, not memory-mapped from a missing file.
    from veco_lightning.data.readers import load_text_dataset

    cache = str(tmp_path / "raw")
    raw = load_text_dataset(str(corpus_dir / "en.txt"), cache_dir=cache)
    texts = raw["text"]
    for entry in raw.cache_files:
        os.remove(entry["filename"])
    del raw
    assert load_text_dataset(str(corpus_dir / "en.txt"), cache_dir=cache)["text"] == texts


def test_same_seed_same_batches(corpus_dir, tokenizer_dir, tmp_path):
    def first_batches(seed):
        torch.manual_seed(seed)
        dm = _datamodule(corpus_dir, tokenizer_dir, tmp_path, seed=seed)
        dm.prepare_data()
        dm.setup("fit")
        loader = iter(dm.train_dataloader())
        return [next(loader)["mmlm"] for _ in range(3)]

    a, b, c = first_batches(1), first_batches(1), first_batches(2)
    for x, y in zip(a, b):
        assert torch.equal(x["input_ids"], y["input_ids"]) and torch.equal(x["labels"], y["labels"])
    assert not all(torch.equal(x["labels"], z["labels"]) for x, z in zip(a, c))


def test_validation_masks_are_fixed(corpus_dir, tokenizer_dir, tmp_path):
    dm = _datamodule(corpus_dir, tokenizer_dir, tmp_path)
    dm.prepare_data()
    dm.setup("fit")
    first = [b["mmlm"]["labels"] for b in dm.val_dataloader()]
    second = [b["mmlm"]["labels"] for b in dm.val_dataloader()]
    assert all(torch.equal(x, y) for x, y in zip(first, second))


def test_jsonl_and_bad_lines(corpus_dir, tokenizer_dir, tmp_path):
    path = tmp_path / "en.jsonl"
    lines = [json.dumps({"text": s}) for s in (corpus_dir / "en.txt").read_text().splitlines()]
    lines.insert(3, "{not json")
    path.write_text("\n".join(lines) + "\n")
    dm = _datamodule(corpus_dir, tokenizer_dir, tmp_path, files={"en": str(path)})
    with pytest.raises(ValueError, match=r"en\.jsonl:4: .*on_bad_line"):
        dm.prepare_data()
    dm = _datamodule(corpus_dir, tokenizer_dir, tmp_path, files={"en": str(path)}, on_bad_line="skip")
    dm.prepare_data()
    dm.setup("fit")
    assert len(dm.train_sets["en"]) > 0


def test_parquet_source(corpus_dir, tokenizer_dir, tmp_path):
    import datasets

    path = tmp_path / "ru.parquet"
    datasets.Dataset.from_dict({"body": (corpus_dir / "ru.txt").read_text().splitlines()}).to_parquet(str(path))
    dm = _datamodule(corpus_dir, tokenizer_dir, tmp_path, files={"ru": str(path)}, text_field="body")
    dm.prepare_data()
    dm.setup("fit")
    assert len(dm.train_sets["ru"]) > 0


def test_missing_files_named(corpus_dir, tokenizer_dir, tmp_path):
    dm = _datamodule(corpus_dir, tokenizer_dir, tmp_path, files={"de": str(tmp_path / "nope/*.txt")})
    with pytest.raises(FileNotFoundError, match=r"nope/\*\.txt.*language 'de'"):
        dm.prepare_data()


def test_whole_word_masking_on_sentencepiece(corpus_dir, tokenizer_dir, tmp_path):
    from veco_lightning.data.tokenizer import word_start_table

    dm = _datamodule(corpus_dir, tokenizer_dir, tmp_path, whole_word_mask=True, mlm_probability=0.3)
    dm.prepare_data()
    dm.setup("fit")
    starts = word_start_table(dm.tokenizer)
    batch = next(iter(dm.train_dataloader()))["mmlm"]
    original = torch.where(batch["labels"] != IGNORE_INDEX, batch["labels"], batch["input_ids"])
    selected = batch["labels"] != IGNORE_INDEX
    special = torch.zeros(len(dm.tokenizer), dtype=torch.bool)
    special[dm.tokenizer.all_special_ids] = True
    # a piece that continues a word (and does not follow a special token) is masked with the piece before it
    continuation = ~starts[original[:, 1:]] & ~special[original[:, :-1]]
    assert continuation.sum() > 5
    assert torch.equal(selected[:, 1:][continuation], selected[:, :-1][continuation])


def test_composite_flattens_sources(corpus_dir, tokenizer_dir, tmp_path):
    mono = _datamodule(corpus_dir, tokenizer_dir, tmp_path, tokenizer=None)
    dm = VecoDataModule(tokenizer=str(tokenizer_dir), monolingual=mono)
    assert dm.vocab_size == len(mono.tokenizer) and dm.pad_token_id == 1
    dm.prepare_data()
    dm.setup("fit")
    flat = next(iter(dm.train_dataloader()))
    assert set(flat) == {"mmlm"} and flat["mmlm"]["input_ids"].shape == (4, 16)


def test_text_the_tokenizer_does_not_cover_is_warned_about(corpus_dir, tokenizer_dir, tmp_path, caplog):
    # Thai under a tokenizer trained without it: mostly <unk>, which trains nothing; said once per source.
    thai = "ฉันดื่มกาแฟทุกเช้า พรุ่งนี้ฝนจะตก เธออ่านหนังสือในห้องสมุด"
    (tmp_path / "th.txt").write_text("\n".join(f"{thai} {i}" for i in range(200)) + "\n", encoding="utf-8")
    dm = _datamodule(corpus_dir, tokenizer_dir, tmp_path, files={"en": str(corpus_dir / "en.txt"),
                                                                  "th": str(tmp_path / "th.txt")})
    dm.prepare_data()
    with caplog.at_level("WARNING", logger="veco_lightning.data.base"):
        dm.setup("fit")
    warned = [r.getMessage() for r in caplog.records if "unknown token" in r.getMessage()]
    assert len(warned) == 1 and warned[0].startswith("monolingual th: ") and "trained on th too" in warned[0]


@pytest.mark.parametrize("streaming", [False, True])
def test_blocks_of_a_wordpiece_tokenizer_open_with_cls(corpus_dir, bert_dir, tmp_path, streaming):
    # multilingual BERT's tokenizer sets [CLS]/[SEP], not <s>/</s>: blocks were packed with None ids
    dm = _datamodule(corpus_dir, bert_dir, tmp_path, streaming=streaming, val_blocks=1)
    dm.prepare_data()
    dm.setup("fit")
    ids = next(iter(dm.train_dataloader()))["mmlm"]["input_ids"]
    assert (ids[:, 0] == dm.tokenizer.cls_token_id).all() and (ids == dm.tokenizer.sep_token_id).any()


def test_streaming_validation_that_takes_all_the_text_is_an_error(corpus_dir, tokenizer_dir, tmp_path):
    dm = _datamodule(corpus_dir, tokenizer_dir, tmp_path, streaming=True, val_blocks=10_000)
    with pytest.raises(ValueError, match=r"en\.txt\): its text packs into \d+ blocks of 16 tokens, and validation "
                                         r"holds out the first 10000 \(data.monolingual.val_blocks\)"):
        dm.setup("fit")
