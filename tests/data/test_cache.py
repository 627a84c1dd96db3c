"""No stale caches: every cache level is keyed by the identity of the files it was built from (path, size,
modification time), so a file edited in place, even to the same size, is read again by the next run."""

import os
import pickle
import subprocess
import sys
from importlib import resources

import datasets
import pytest
from conftest import sentences

from veco_lightning.data import cache
from veco_lightning.data.cache import PausedCycleCollection, file_identity, tokenizer_threads_kept
from veco_lightning.data.monolingual import MonolingualDataModule
from veco_lightning.data.parallel import ParallelDataModule, ParallelSource
from veco_lightning.data.readers import load_text_dataset
from veco_lightning.data.synonym import SynonymAlignedDataModule

DEMO = "pkg://veco_lightning/resources/demo"


def _edit(path, text: str) -> None:
    """Rewrite ``path`` in place and move its modification time on (a same-size edit within one clock tick would
    otherwise keep it)."""
    before = os.stat(path).st_mtime_ns
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(before + 2_000_000_000, before + 2_000_000_000))


def test_file_identity_sees_a_same_size_edit(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("one\n", encoding="utf-8")
    before = file_identity([str(path)])
    _edit(path, "two\n")
    assert file_identity([str(path)]) != before and before[0][1] == file_identity([str(path)])[0][1]


def test_text_generator_cache_reads_an_edited_file(tmp_path):
    path = tmp_path / "en.txt"
    path.write_text("the old text\nsecond line\n", encoding="utf-8")
    cache = str(tmp_path / "cache")
    assert load_text_dataset(str(path), cache_dir=cache)["text"][:] == ["the old text", "second line"]
    _edit(path, "the new text\nsecond line\n")  # same size
    assert load_text_dataset(str(path), cache_dir=cache)["text"][:] == ["the new text", "second line"]
    _edit(path, "a longer new text\n")
    assert load_text_dataset(str(path), cache_dir=cache)["text"][:] == ["a longer new text"]


def _blocks(path, tokenizer_dir, cache):
    dm = MonolingualDataModule(files={"en": str(path)}, tokenizer=str(tokenizer_dir), max_length=16, val_fraction=0,
                               cache_dir=str(cache))
    dm.prepare_data()
    dm.setup("fit")
    return [block.tolist() for block in dm.train_sets["en"]["input_ids"]]


def test_monolingual_blocks_follow_an_edit(tokenizer_dir, tmp_path):
    path = tmp_path / "en.txt"
    old, new = sentences("en"), [s.replace("dog", "car") for s in sentences("en")]  # same length, other words
    path.write_text("\n".join(old) + "\n", encoding="utf-8")
    before = _blocks(path, tokenizer_dir, tmp_path / "cache")
    _edit(path, "\n".join(new) + "\n")
    after = _blocks(path, tokenizer_dir, tmp_path / "cache")
    fresh = tmp_path / "fresh" / "en.txt"
    fresh.parent.mkdir()
    fresh.write_text("\n".join(new) + "\n", encoding="utf-8")
    assert after != before and after == _blocks(fresh, tokenizer_dir, tmp_path / "fresh-cache")


def _pairs(files, tokenizer_dir, cache, **kwargs):
    dm = ParallelDataModule(files=files, tokenizer=str(tokenizer_dir), max_length=32, val_pairs=2,
                            cache_dir=str(cache), **kwargs)
    dm.prepare_data()
    dm.setup("fit")
    return list(dm.train_sets["ru-en"]["src"]), dm.held_out["ru-en"]


def test_parallel_pairs_follow_an_edit(tokenizer_dir, tmp_path):
    tsv = tmp_path / "ru-en.tsv"
    lines = [f"{a}\t{b}" for a, b in zip(sentences("ru"), sentences("en"))]
    tsv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    files = {"ru-en": ParallelSource(path=str(tsv))}
    before, held_before = _pairs(files, tokenizer_dir, tmp_path / "cache")
    _edit(tsv, "\n".join(reversed(lines)) + "\n")  # same size, other order
    after, held_after = _pairs(files, tokenizer_dir, tmp_path / "cache")
    assert after != before and held_after != held_before
    assert held_after[0] == list(reversed(sentences("ru")))[-2:]
    # line-aligned files too
    src, tgt = tmp_path / "ru.txt", tmp_path / "en.txt"
    src.write_text("\n".join(sentences("ru")) + "\n", encoding="utf-8")
    tgt.write_text("\n".join(sentences("en")) + "\n", encoding="utf-8")
    files = {"ru-en": ParallelSource(src=str(src), tgt=str(tgt))}
    before, _ = _pairs(files, tokenizer_dir, tmp_path / "cache")
    _edit(src, "\n".join(reversed(sentences("ru"))) + "\n")
    assert _pairs(files, tokenizer_dir, tmp_path / "cache")[0] != before


def test_synonym_cache_follows_a_dictionary_edit(tmp_path):
    dictionary = tmp_path / "en-de.tsv"
    dictionary.write_text("zebra\tZebra\n", encoding="utf-8")  # a word the sentences do not have
    args = dict(files={"de-en": ParallelSource(src=f"{DEMO}/de.txt", tgt=f"{DEMO}/en.txt", lines=[0, 48])},
                dictionaries={"en-de": [str(dictionary)]}, tokenizer=f"{DEMO}/tokenizer", max_length=48,
                batch_size=4, val_pairs=0, cache_dir=str(tmp_path / "cache"))

    def mined():
        dm = SynonymAlignedDataModule(**args)
        dm.prepare_data()
        dm.setup("fit")
        return dm.mining_stats["de-en"]["dictionary"]["entries"], dm.mining_stats["de-en"]["kept_after_truncation"]

    assert mined() == (1, 0)
    demo = resources.files("veco_lightning") / "resources" / "demo" / "dict" / "en-de.tsv"
    _edit(dictionary, demo.read_text(encoding="utf-8"))
    entries, kept = mined()
    assert entries > 100 and kept > 20


def _process_environment(key):
    """The variable as a child process sees it: the C environment, not Python's copy of it."""
    code = f"import os; print(os.environ.get({key!r}, '<unset>'))"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


@pytest.mark.parametrize("before", ["true", None])
def test_a_multi_process_map_leaves_the_tokenizer_threads_as_they_were(before):
    key = "TOKENIZERS_PARALLELISM"
    saved = os.environ.get(key)
    try:
        if before is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = before
        rows = datasets.Dataset.from_dict({"x": list(range(8))})
        with tokenizer_threads_kept():
            rows.map(lambda batch: batch, batched=True, num_proc=2)
        assert _process_environment(key) == (before or "<unset>")
        assert os.environ.get(key) == before
    finally:  # both Python's copy and the C environment, as conftest set them
        if saved is None:
            os.environ.pop(key, None)
            os.unsetenv(key)
        else:
            os.environ[key] = saved


class _Heavy:
    """A map function holding a large payload (as a mining function holds a dictionary)."""

    def __init__(self) -> None:
        self.payload = bytes(2_000_000)

    def __call__(self, batch):
        return {"y": [2 * x for x in batch["x"]], "pid": [os.getpid()] * len(batch["x"])}


def test_forked_map_workers_inherit_the_function_instead_of_unpickling_it(monkeypatch):
    function = PausedCycleCollection(_Heavy())
    if not cache._workers_forked():
        pytest.skip("multiprocess does not fork here")
    pickled = pickle.dumps(function)
    assert len(pickled) < 500  # a reference, not the 2 MB payload
    assert pickle.loads(pickled) is function  # in the process that made it
    rows = datasets.Dataset.from_dict({"x": list(range(40))})
    forked = rows.map(function, batched=True, batch_size=10, num_proc=2)
    assert list(forked["y"]) == list(rows.map(function, batched=True, batch_size=10)["y"]) == [2 * x for x in range(40)]
    assert os.getpid() not in set(forked["pid"])  # it did run in the workers
    # With any other start method it travels whole.
    monkeypatch.setattr(cache, "_workers_forked", lambda: False)
    whole = pickle.loads(pickle.dumps(function))
    assert whole is not function and whole.function.payload == function.function.payload


def test_a_function_reference_outside_a_forked_worker_fails_clearly():
    function = PausedCycleCollection(_Heavy())
    if not cache._workers_forked():
        pytest.skip("multiprocess does not fork here")
    child = subprocess.run([sys.executable, "-c", "import pickle, sys; pickle.loads(sys.stdin.buffer.read())"],
                           input=pickle.dumps(function), capture_output=True, timeout=120)
    assert child.returncode != 0
    assert b"was not forked from it" in child.stderr and b"num_proc 1" in child.stderr


def test_tokenizer_fingerprint_ignores_call_settings_and_follows_the_vocabulary(tokenizer_dir):
    """The fingerprint is remembered per serialised pipeline: a call's truncation or padding settings do not change
    it, an added token does, and a fresh process computes the same value."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    plain = cache.tokenizer_fingerprint(tokenizer)
    tokenizer(["a b c"], truncation=True, max_length=2, padding="max_length")
    assert tokenizer.backend_tokenizer.truncation is not None
    assert cache.tokenizer_fingerprint(tokenizer) == plain
    cache._FINGERPRINTS.clear()
    assert cache.tokenizer_fingerprint(tokenizer) == plain  # computed again, the same
    tokenizer.add_tokens(["<brand-new-token>"])
    assert cache.tokenizer_fingerprint(tokenizer) != plain
    fresh = subprocess.run([sys.executable, "-c", "import sys; from transformers import AutoTokenizer; "
                            "from veco_lightning.data.cache import tokenizer_fingerprint; "
                            "print(tokenizer_fingerprint(AutoTokenizer.from_pretrained(sys.argv[1])))",
                            str(tokenizer_dir)], capture_output=True, text=True, check=True)
    assert fresh.stdout.strip() == plain


def test_text_dataset_holds_the_columns_with_a_fresh_fingerprint():
    first = cache.text_dataset({"src": ["a", "b"], "tgt": ["c", "d"]}, "de-en")
    again = cache.text_dataset({"src": ["a", "b"], "tgt": ["c", "d"]}, "de-en")
    assert first.to_dict() == {"src": ["a", "b"], "tgt": ["c", "d"]}
    assert first.features == datasets.Dataset.from_dict({"src": ["a"], "tgt": ["b"]}).features
    assert first._fingerprint != again._fingerprint and first._fingerprint.startswith("de-en-")
    assert len(cache.text_dataset({"src": [], "tgt": []}, "x")) == 0


def test_a_source_another_process_is_preparing_is_waited_for(corpus_dir, tokenizer_dir, tmp_path):
    # Runs sharing a cache_dir (a sweep's jobs started together) take a lock per source: one prepares, the other
    # waits and then finds it complete; and the raw text both read is not deleted under the one still reading it.
    import threading

    from veco_lightning.data.cache import cache_lock, read_manifest

    cache_dir = str(tmp_path / "cache")
    files = {"en": str(corpus_dir / "en.txt"), "ru": str(corpus_dir / "ru.txt")}
    dm = MonolingualDataModule(files=files, tokenizer=str(tokenizer_dir), max_length=16, cache_dir=cache_dir)
    other = MonolingualDataModule(files=files, tokenizer=str(tokenizer_dir), max_length=32, cache_dir=cache_dir)
    path = dm.cache_location("en")
    with cache_lock(cache_dir, path):  # "another process" holds en's lock
        runner = threading.Thread(target=dm.prepare_data)
        runner.start()
        runner.join(timeout=3)
        assert runner.is_alive() and not cache.is_complete(path)  # waiting, nothing written
        other.prepare_data()  # the same files at another length: its own sources, the raw text read again
    runner.join(timeout=120)
    assert not runner.is_alive() and cache.is_complete(path)
    assert set(read_manifest(cache_dir)) == {"monolingual/en", "monolingual/ru"}
    dm.setup("fit")
    assert len(dm.train_sets["en"]) > 0


def test_manifest_entries_written_at_once_are_all_kept(tmp_path):
    import threading

    from veco_lightning.data.cache import read_manifest, record_prepared

    summary = {"rows": 1, "input_rows": 1, "shards": [{}]}
    threads = [threading.Thread(target=lambda k=k: [record_prepared(str(tmp_path), "kind", f"s{k}-{i}",
                                                                    str(tmp_path / f"s{k}-{i}"), "key", summary)
                                                    for i in range(20)]) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(read_manifest(str(tmp_path))) == 80
