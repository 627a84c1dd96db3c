"""The streaming monolingual source: packing equal to the cached path, the smoothed language mixture, sharding by
rank and loader worker, exact resume, held-out validation blocks, bad input, URLs, and training through veco-fit."""

import csv
import glob
import gzip
import itertools
import json
import math
import os
import re
from collections import Counter, defaultdict
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import sentences
from torch.utils.data import DataLoader, get_worker_info

from veco_lightning.cli import run_cli
from veco_lightning.data.collators import MLMCollator
from veco_lightning.data.monolingual import MonolingualDataModule, pack_blocks
from veco_lightning.data.readers import iter_lines
from veco_lightning.data.sampling import smoothed_probabilities
from veco_lightning.data.streaming import (
    ENDLESS,
    StreamingBlocks,
    check_run_length,
    check_stream_patterns,
    stream_loader,
)
from veco_lightning.data.tokenizer import load_tokenizer
from veco_lightning.lexicon.badinput import BadInputError
from veco_lightning.losses.masked_lm import IGNORE_INDEX

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONF = os.path.join(ROOT, "tests", "conf", "streaming.yaml")
L = 16  # block length
# Files per language: with 4 readers (2 ranks x 2 workers), zh is split by whole files and en, ru by lines.
FILES = {"en": 3, "ru": 1, "zh": 4}
LINES = {"en": 300, "ru": 120, "zh": 40}


def _lines(language: str, count: int) -> list[str]:
    """``count`` distinct lines: pairs of the fixture sentences."""
    sep = "" if language == "zh" else " "
    return [sep.join(pair) for pair in itertools.permutations(sentences(language), 2)][:count]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Three languages of different sizes, each split into FILES[language] files: (folder, language -> list of the
    lines of each file, in file order)."""
    root = tmp_path_factory.mktemp("stream")
    parts = {}
    for language, count in LINES.items():
        lines = _lines(language, count)
        size = -(-count // FILES[language])
        parts[language] = [lines[i : i + size] for i in range(0, count, size)]
        for index, part in enumerate(parts[language]):
            (root / f"{language}_{index}.txt").write_text("\n".join(part) + "\n", encoding="utf-8")
    return root, parts


@pytest.fixture(scope="module")
def tokenizer(tokenizer_dir):
    return load_tokenizer(str(tokenizer_dir))


def _globs(root, languages=("en", "ru", "zh")):
    return {language: str(root / f"{language}_*.txt") for language in languages}


def _pack(tokenizer, lines):
    ids = tokenizer(lines, add_special_tokens=False)["input_ids"] if lines else []
    return pack_blocks(ids, L, tokenizer.bos_token_id, tokenizer.eos_token_id)


def test_blocks_equal_the_cached_packing(corpus, tokenizer, tokenizer_dir, tmp_path):
    """One language, read in batches of 64 lines (so that the carried tokens cross many batches): the same blocks,
    in the same order, as the non-streaming path packs; every block full and starting with <s>."""
    root, _ = corpus
    stream = StreamingBlocks({"en": str(root / "en_*.txt")}, tokenizer, L, repeat=False, read_batch_rows=64)
    blocks = [example["input_ids"] for example in stream]
    files = sorted(glob.glob(str(root / "en_*.txt")))
    assert blocks == _pack(tokenizer, [row["text"] for row in iter_lines(files)])
    assert all(len(block) == L and block[0] == tokenizer.bos_token_id for block in blocks)
    cached = MonolingualDataModule(files={"en": str(root / "en_*.txt")}, tokenizer=str(tokenizer_dir), max_length=L,
                                   val_fraction=0, cache_dir=str(tmp_path / "cache"))
    cached.prepare_data()
    cached.setup("fit")
    assert [block.tolist() for block in cached.train_sets["en"]["input_ids"]] == blocks


def test_jsonl_parquet_and_gzip_read_like_txt(corpus, tokenizer, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    root, parts = corpus
    lines = [line for part in parts["ru"] for line in part]
    (tmp_path / "ru.jsonl").write_text("".join(json.dumps({"text": t, "id": i}) + "\n" for i, t in enumerate(lines)))
    pq.write_table(pa.table({"text": lines}), tmp_path / "ru.parquet")
    with gzip.open(tmp_path / "ru.txt.gz", "wt", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    expected = _pack(tokenizer, lines)
    for name in ("ru.jsonl", "ru.parquet", "ru.txt.gz"):
        stream = StreamingBlocks({"ru": str(tmp_path / name)}, tokenizer, L, repeat=False)
        assert [example["input_ids"] for example in stream] == expected, name


def test_a_file_whose_name_holds_glob_characters(corpus, tokenizer, tokenizer_dir, tmp_path):
    # A file named as it is ("exp[1]") is read, streamed or cached, not taken for a glob that matches nothing (the
    # stream would have been empty, without an error).
    root, parts = corpus
    lines = [line for part in parts["ru"] for line in part]
    folder = tmp_path / "runs [v2]" / "exp[1]"
    folder.mkdir(parents=True)
    (folder / "ru.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    stream = StreamingBlocks({"ru": str(folder / "ru.txt")}, tokenizer, L, repeat=False)
    assert [example["input_ids"] for example in stream] == _pack(tokenizer, lines)
    cached = MonolingualDataModule(files={"ru": str(folder / "ru.txt")}, tokenizer=str(tokenizer_dir), max_length=L,
                                   val_fraction=0, cache_dir=str(tmp_path / "cache"))
    cached.prepare_data()
    cached.setup("fit")
    assert [block.tolist() for block in cached.train_sets["ru"]["input_ids"]] == _pack(tokenizer, lines)


def test_language_mixture_follows_smoothed_probabilities(corpus, tokenizer):
    """Languages are drawn per block with q_i ∝ p_i^alpha, p_i from the files' bytes (or language_sizes)."""
    root, _ = corpus
    files = _globs(root)
    stream = StreamingBlocks(files, tokenizer, L, alpha=0.3, read_batch_rows=64)
    sizes = [sum(os.path.getsize(f) for f in glob.glob(pattern)) for pattern in files.values()]
    q = smoothed_probabilities(sizes, 0.3).numpy()
    np.testing.assert_allclose(stream.probabilities, q)
    draws = 6000
    counts = Counter(example["language"] for example in itertools.islice(stream, draws))
    for language, expected in zip(files, q):
        assert abs(counts[language] / draws - expected) < 4 * math.sqrt(expected * (1 - expected) / draws), counts
    equal = StreamingBlocks(files, tokenizer, L, alpha=0.3, language_sizes={"en": 5, "ru": 5, "zh": 5})
    np.testing.assert_allclose(equal.probabilities, [1 / 3] * 3)


def _expected_parts(parts, readers, held_rows=0):
    """The lines each reader gets: whole files (reader r: files r, r + R, ...) when the language has at least R
    files, else every R-th line of every file (reader r: the lines r, r + R, ... of each file); the first
    ``held_rows`` lines of the first file (validation) go to no one."""
    rows = [(f, i, line) for f, part in enumerate(parts) for i, line in enumerate(part)]
    if len(parts) >= readers:
        chosen = [[row for row in rows if row[0] % readers == r] for r in range(readers)]
    else:
        chosen = [[row for row in rows if row[1] % readers == r] for r in range(readers)]
    return [[line for f, i, line in rows_r if not (f == 0 and i < held_rows)] for rows_r in chosen]


def _tagged(example):
    return get_worker_info().id, example


def test_two_ranks_two_workers_read_disjoint_parts_covering_everything(corpus, tokenizer):
    """2 ranks x 2 loader workers = 4 readers, more than en's 3 files and ru's 1 (split by lines) and as many as
    zh's 4 (split by files): each reader packs exactly its part, and the parts are disjoint and cover every line."""
    root, parts = corpus
    seen = defaultdict(list)
    for rank in (0, 1):
        stream = StreamingBlocks(_globs(root), tokenizer, L, rank=rank, world_size=2, repeat=False, read_batch_rows=16)
        for worker, example in DataLoader(stream, batch_size=None, num_workers=2, collate_fn=_tagged):
            seen[rank * 2 + worker, example["language"]].append(example["input_ids"])
    for language in FILES:
        expected = _expected_parts(parts[language], 4)
        every_line = [line for part in parts[language] for line in part]
        assert sorted(line for part in expected for line in part) == sorted(every_line)  # each line exactly once
        for reader in range(4):
            assert seen[reader, language] == _pack(tokenizer, expected[reader]), (language, reader)
            assert seen[reader, language], "every reader gets some of every language"


@pytest.mark.parametrize("language", ["en", "zh"])
def test_held_out_blocks_are_never_trained_on(corpus, tokenizer, language):
    """Validation holds out the first blocks of the language's first file; the reader that gets those lines (4
    readers: by lines for en, by files for zh) skips them, the others train on everything else."""
    root, parts = corpus
    streams = [StreamingBlocks({language: str(root / f"{language}_*.txt")}, tokenizer, L, val_blocks=3, rank=rank,
                               world_size=4, repeat=False) for rank in range(4)]
    held = streams[0].held_out[language]
    assert held == _pack(tokenizer, parts[language][0])[:3]
    held_rows = streams[0].held_out_rows[language]
    assert 0 < held_rows < len(parts[language][0])
    expected = _expected_parts(parts[language], 4, held_rows)
    for reader, stream in enumerate(streams):
        assert [example["input_ids"] for example in stream] == _pack(tokenizer, expected[reader])


def _find(state, key):
    """Every value of ``key`` in a nested state."""
    if isinstance(state, dict):
        return [v for k, value in state.items() for v in ([value] if k == key else _find(value, key))]
    if isinstance(state, list):
        return [v for value in state for v in _find(value, key)]
    return []


@pytest.mark.parametrize("num_workers", [0, 2])
def test_resume_mid_stream_equals_uninterrupted_run(corpus, tokenizer, tmp_path, num_workers):
    """A loader rebuilt from a saved state (after a language has run out and started again, and a checkpoint's
    weights_only round trip) yields exactly the batches, masks included, of the run that was never stopped."""
    root, _ = corpus
    (tmp_path / "tiny.txt").write_text("\n".join(_lines("zh", 6)) + "\n", encoding="utf-8")
    files = {**_globs(root, ("en", "ru")), "zh": str(tmp_path / "tiny.txt")}

    def loader():
        stream = StreamingBlocks(files, tokenizer, L, language_sizes={"en": 1, "ru": 1, "zh": 1}, val_blocks=2,
                                 seed=7, read_batch_rows=32)
        return stream_loader(stream, 4, MLMCollator(tokenizer), num_workers=num_workers)

    straight = loader()
    batches = iter(straight)
    for _ in range(12):
        next(batches)
    state = straight.state_dict()
    after = [next(batches)["mmlm"] for _ in range(12)]
    del batches
    assert max(_find(state, "reads")) > 0, "the checkpoint was taken after a language started again"
    torch.save(state, tmp_path / "state.pt")
    resumed = loader()
    resumed.load_state_dict(torch.load(tmp_path / "state.pt", weights_only=True))
    again = iter(resumed)
    for expected in after:
        got = next(again)["mmlm"]
        assert all(torch.equal(got[key], expected[key]) for key in ("input_ids", "labels"))


def test_epochs_continue_the_stream(corpus, tokenizer):
    """samples_per_epoch sets the loader's length (Lightning's epoch; default: endless); a new epoch continues the
    stream."""
    root, _ = corpus

    def loader(samples_per_epoch=None):
        stream = StreamingBlocks(_globs(root), tokenizer, L, read_batch_rows=32)
        return stream_loader(stream, 4, MLMCollator(tokenizer), samples_per_epoch=samples_per_epoch)

    assert len(loader()) == ENDLESS
    epochs = loader(samples_per_epoch=20)
    assert len(epochs) == 5
    two_epochs = [b["mmlm"]["input_ids"] for _ in range(2) for b in itertools.islice(epochs, 5)]
    straight = [b["mmlm"]["input_ids"] for b in itertools.islice(loader(), 10)]
    assert all(torch.equal(a, b) for a, b in zip(two_epochs, straight))


def test_bad_lines_stop_or_are_skipped(tokenizer, tmp_path, caplog):
    good = _lines("en", 40)
    path = tmp_path / "en.txt"
    path.write_bytes(("\n".join(good[:10]) + "\n").encode() + b"caf\xe9 latin-1\n" + b"a bell \x07 here\n"
                     + ("\n".join(good[10:]) + "\n").encode())
    with pytest.raises(BadInputError, match=r"en\.txt:11: not valid UTF-8.*on_bad_line: skip"):
        list(StreamingBlocks({"en": str(path)}, tokenizer, L, repeat=False))
    skipped = StreamingBlocks({"en": str(path)}, tokenizer, L, repeat=False, on_bad_line="skip")
    assert [example["input_ids"] for example in skipped] == _pack(tokenizer, good)
    # A run may stop long before its read of the files ends (and the count with it): the first skip is said at once.
    endless = iter(StreamingBlocks({"en": str(path)}, tokenizer, L, repeat=True, on_bad_line="skip"))
    with caplog.at_level("WARNING", logger="veco_lightning.data.streaming"):
        next(endless)
    assert f"{path}:11: skipped a bad line (on_bad_line: skip)" in caplog.text
    path.write_text("\n".join(good[:10]) + "\na bell \x07 here\n", encoding="utf-8")
    with pytest.raises(BadInputError, match=r"en\.txt:11: control character U\+0007.*on_bad_line: skip"):
        list(StreamingBlocks({"en": str(path)}, tokenizer, L, repeat=False))
    records = tmp_path / "en.jsonl"
    records.write_text(json.dumps({"text": good[0]}) + "\n{not json\n" + json.dumps({"text": 7}) + "\n")
    with pytest.raises(BadInputError, match=r"en\.jsonl:2: cannot be read .*JSON parse error"):
        list(StreamingBlocks({"en": str(records)}, tokenizer, L, repeat=False))
    records.write_text(json.dumps({"text": good[0]}) + "\n" + json.dumps({"text": 7}) + "\n")
    with pytest.raises(BadInputError, match=r"en\.jsonl:2 \(record 2\): a value of type int, not text"):
        list(StreamingBlocks({"en": str(records)}, tokenizer, L, repeat=False))


def test_bad_lines_are_named_by_file_and_line_once_over_all_readers(tokenizer, tmp_path, caplog):
    """A bad line in a later file is reported by that file and its line (not by its row in the stream), and with
    several readers sharing the files (split by lines) by exactly one of them."""
    good = _lines("en", 60)
    (tmp_path / "en_0.txt").write_text("\n".join(good[:20]) + "\n", encoding="utf-8")
    second = good[20:24] + ["a bell \x07 here"] + good[24:26] + ["a tab \x0b here"] + good[26:]
    (tmp_path / "en_1.txt").write_text("\n".join(second) + "\n", encoding="utf-8")
    files = {"en": str(tmp_path / "en_*.txt")}
    with pytest.raises(BadInputError, match=r"en_1\.txt:5: control character U\+0007"):
        list(StreamingBlocks(files, tokenizer, L, repeat=False))
    readers = 3  # more readers than files: every reader reads both files and keeps its own lines
    with caplog.at_level("WARNING", logger="veco_lightning.data.streaming"):
        for rank in range(readers):
            list(StreamingBlocks(files, tokenizer, L, rank=rank, world_size=readers, repeat=False, on_bad_line="skip"))
    counts = re.findall(r"en_1\.txt: skipped (\d+) bad line\(s\)", caplog.text)
    assert sum(map(int, counts)) == 2, caplog.text  # each bad line counted once, by the reader that owns it
    assert f"{tmp_path / 'en_1.txt'}:5 (control character U+0007" in caplog.text
    assert f"{tmp_path / 'en_1.txt'}:8 (control character U+000B" in caplog.text
    with pytest.raises(ValueError, match="earlier veco_lightning"):
        old = {"batch_state": None, "batch_row": 0, "row": 0, "buffer": [], "reads": 0}
        stream = StreamingBlocks(files, tokenizer, L)
        stream.load_state_dict({"readers": [0, 1], "rng": np.random.default_rng(0).bit_generator.state,
                                "ended": [], "languages": {"en": old}})
        next(iter(stream))


def test_json_lines_and_compressed_files_are_named_by_line(tokenizer, tmp_path):
    """The JSON reader drops blank lines: a bad record is named by its line too. A file that ``datasets`` cannot read
    at all (mixed types beside blank lines) is named by the first line that is not a JSON object with a string text
    field, and a compressed file by its line."""
    good = _lines("en", 20)
    records = tmp_path / "en.jsonl"
    records.write_text(json.dumps({"text": good[0]}) + "\n\n\n" + json.dumps({"text": good[1]}) + "\n"
                       + json.dumps({"text": "a bell \x07 here"}) + "\n")
    with pytest.raises(BadInputError, match=r"en\.jsonl:5 \(record 3\): control character U\+0007"):
        list(StreamingBlocks({"en": str(records)}, tokenizer, L, repeat=False))
    records.write_text(json.dumps({"text": good[0]}) + "\n\n" + json.dumps({"text": 5}) + "\n")
    with pytest.raises(BadInputError, match=r"en\.jsonl:3: cannot be read .*string 'text' field"):
        list(StreamingBlocks({"en": str(records)}, tokenizer, L, repeat=False))
    packed = tmp_path / "en.txt.gz"
    with gzip.open(packed, "wb") as handle:
        handle.write(("\n".join(good[:3]) + "\n").encode() + b"caf\xe9\n" + ("\n".join(good[3:]) + "\n").encode())
    with pytest.raises(BadInputError, match=r"en\.txt\.gz:4: not valid UTF-8"):
        list(StreamingBlocks({"en": str(packed)}, tokenizer, L, repeat=False))


def test_urls_go_through_fsspec(corpus, tokenizer):
    """The object-store code path, on fsspec's in-memory filesystem: URL globs, sizes and reading."""
    import fsspec

    root, _ = corpus
    fs = fsspec.filesystem("memory")
    try:
        for path in sorted(glob.glob(str(root / "ru_*.txt"))):
            fs.pipe(f"/veco-test/{os.path.basename(path)}", open(path, "rb").read())
        remote = StreamingBlocks({"ru": "memory://veco-test/ru_*.txt"}, tokenizer, L, repeat=False)
        local = StreamingBlocks({"ru": str(root / "ru_*.txt")}, tokenizer, L, repeat=False)
        assert remote.languages["ru"].size == local.languages["ru"].size
        assert [e["input_ids"] for e in remote] == [e["input_ids"] for e in local]
    finally:
        fs.rm("/veco-test", recursive=True)
    try:
        import s3fs  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match=r"s3://bucket/en/\*\.txt.*pip install s3fs"):
            check_stream_patterns("s3://bucket/en/*.txt")


def test_datamodule_streams_without_preparing(corpus, tokenizer_dir, tmp_path):
    root, _ = corpus
    dm = MonolingualDataModule(files=_globs(root), tokenizer=str(tokenizer_dir), max_length=L, batch_size=4,
                               streaming=True, val_blocks=2, cache_dir=str(tmp_path / "cache"))
    dm.prepare_data()
    assert not (tmp_path / "cache").exists(), "nothing is tokenized ahead"
    dm.setup("fit")
    assert {language: len(blocks) for language, blocks in dm.val_sets.items()} == {"en": 2, "ru": 2, "zh": 2}
    batch = next(iter(dm.train_dataloader()))["mmlm"]
    assert batch["input_ids"].shape == (4, L) and batch["attention_mask"].all()
    assert (batch["labels"] != IGNORE_INDEX).any(dim=1).all()
    assert next(iter(dm.val_dataloader()))["mmlm"]["input_ids"].shape == (4, L)
    with pytest.raises(ValueError, match="max_steps"):
        check_run_length(SimpleNamespace(max_steps=-1), None)
    check_run_length(SimpleNamespace(max_steps=10), None)
    check_run_length(SimpleNamespace(max_steps=-1), 1000)
    with pytest.raises(ValueError, match="lines cannot be used with streaming"):
        MonolingualDataModule(files=_globs(root), streaming=True, lines=[0, -10])


def _fit(corpus, tokenizer_dir, root, *extra):
    files = "{" + ", ".join(f"{lang}: '{pattern}'" for lang, pattern in _globs(corpus).items()) + "}"
    return run_cli(["fit", "--config", CONF, f"--data.tokenizer={tokenizer_dir}", f"--data.monolingual.files={files}",
                    f"--trainer.default_root_dir={root}", f"--trainer.logger.init_args.save_dir={root}", *extra])


def _losses(root):
    values = {}
    for path in sorted(glob.glob(str(root / "lightning_logs" / "*" / "metrics.csv"))):
        with open(path) as handle:
            for row in csv.DictReader(handle):
                if row.get("train/mmlm_loss"):
                    values[int(row["step"])] = float(row["train/mmlm_loss"])
    return values


def test_fit_with_streaming_and_resume_exactly(corpus, tokenizer_dir, tmp_path):
    """veco-fit trains on the stream (max_steps ends it, validation on the held-out blocks); resumed from the
    checkpoint of step 3, it ends with the weights and losses of the run that went straight through."""
    root, _ = corpus
    straight = _fit(root, tokenizer_dir, tmp_path / "straight")
    metrics = straight.trainer.callback_metrics
    assert straight.trainer.global_step == 6
    assert torch.isfinite(metrics["train/mmlm_loss"]) and torch.isfinite(metrics["val/mmlm_loss"])
    (step3,) = glob.glob(str(tmp_path / "straight" / "**" / "*step=3.ckpt"), recursive=True)
    resumed = _fit(root, tokenizer_dir, tmp_path / "resumed", f"--ckpt_path={step3}")
    assert resumed.trainer.global_step == 6
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert max(float((a[k] - b[k]).abs().max()) for k in a) <= 1e-6
    expected, got = _losses(tmp_path / "straight"), _losses(tmp_path / "resumed")
    assert {step for step in expected if step >= 3} <= set(got)
    assert all(got[step] == expected[step] for step in expected if step >= 3)
