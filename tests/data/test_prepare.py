"""Prepare once, train many times: sharded, resumable preparation (``veco-prepare``) and runs that read prepared
data without tokenizing, even where the raw files are absent."""

import json
import os
import shutil

import pytest
from conftest import sentences

from veco_lightning.cli import main, prepare_main
from veco_lightning.data import cache
from veco_lightning.data.monolingual import MonolingualDataModule
from veco_lightning.data.parallel import ParallelDataModule, ParallelSource


def _corpus(root):
    root.mkdir(parents=True, exist_ok=True)
    for lang in ("en", "ru"):
        (root / f"{lang}.txt").write_text("\n".join(sentences(lang) * 3) + "\n", encoding="utf-8")
    pairs = [f"{a}\t{b}" for a, b in zip(sentences("ru"), sentences("en"))]
    (root / "ru-en.tsv").write_text("\n".join(pairs) + "\n", encoding="utf-8")
    return root


def _mono(root, tokenizer_dir, **kwargs):
    files = {lang: str(root / f"{lang}.txt") for lang in ("en", "ru")}
    return MonolingualDataModule(files=files, tokenizer=str(tokenizer_dir), max_length=16, val_fraction=0,
                                 cache_dir=str(root / "cache"), **kwargs)


def _blocks(dm):
    dm.prepare_data()
    dm.setup("fit")
    return {lang: [b.tolist() for b in ds["input_ids"]] for lang, ds in dm.train_sets.items()}


def test_shards_hold_the_same_blocks_as_one_shard(tokenizer_dir, tmp_path):
    root = _corpus(tmp_path / "a")
    whole = _blocks(_mono(root, tokenizer_dir))
    other = _corpus(tmp_path / "b")
    sharded_dm = _mono(other, tokenizer_dir, shard_rows=50)
    sharded = _blocks(sharded_dm)
    summary = cache.read_summary(sharded_dm.cache_location("en"))
    assert len(summary["shards"]) == -(-len(sentences("en")) * 3 // 50) > 1
    # packing restarts at each shard: a few blocks fewer at most, the same tokens in the same order otherwise
    for lang in whole:
        assert 0 <= len(whole[lang]) - len(sharded[lang]) <= len(summary["shards"])
        assert sharded[lang][0] == whole[lang][0]


def test_a_killed_preparation_resumes_at_its_shard(tokenizer_dir, tmp_path, monkeypatch):
    root = _corpus(tmp_path)
    dm = _mono(root, tokenizer_dir, shard_rows=40)
    calls = []
    real_map = __import__("datasets").Dataset.map

    def failing_map(self, *args, **kwargs):
        calls.append(kwargs["desc"])
        if len(calls) == 3:
            raise KeyboardInterrupt("killed")
        return real_map(self, *args, **kwargs)

    monkeypatch.setattr("datasets.Dataset.map", failing_map)
    with pytest.raises(KeyboardInterrupt):
        dm.prepare_data()
    partial = f"{dm.cache_location('en')}.partial"
    assert sorted(n for n in os.listdir(partial) if n.endswith(".json")) == ["shard-00000.json", "shard-00001.json"]
    calls.clear()
    monkeypatch.setattr("datasets.Dataset.map", real_map)
    monkeypatch.setattr("datasets.Dataset.map", lambda self, *a, **k: calls.append(k["desc"]) or real_map(self, *a,
                                                                                                          **k))
    resumed = _blocks(_mono(root, tokenizer_dir, shard_rows=40))
    assert not any(d.startswith("Tokenizing en [1/") or d.startswith("Tokenizing en [2/") for d in calls)
    assert any(d.startswith("Tokenizing en [3/") for d in calls)
    fresh = _blocks(_mono(_corpus(tmp_path / "fresh"), tokenizer_dir, shard_rows=40))
    assert resumed == fresh


def test_prepared_runs_never_read_the_raw_files(tokenizer_dir, tmp_path):
    root = _corpus(tmp_path)
    source = {"ru-en": ParallelSource(path=str(root / "ru-en.tsv"))}
    options = dict(tokenizer=str(tokenizer_dir), max_length=40, batch_size=4, val_pairs=6,
                   cache_dir=str(root / "cache"))
    before = ParallelDataModule(files=source, **options)
    before.prepare_data()
    before.setup("fit")
    manifest = json.loads((root / "cache" / cache.MANIFEST).read_text())
    assert manifest["parallel/ru-en"]["rows"] == len(sentences("ru")) - 6
    # the cache moves to a machine without the corpus (a node-local copy)
    shutil.copytree(root / "cache", tmp_path / "node" / "cache")
    os.remove(root / "ru-en.tsv")
    after = ParallelDataModule(files=source, prepared=True, **{**options, "cache_dir": str(tmp_path / "node" /
                                                                                          "cache")})
    after.prepare_data()
    after.setup("fit")
    assert after.held_out == before.held_out
    assert after.train_sets["ru-en"]["src"][:] == before.train_sets["ru-en"]["src"][:]
    assert next(iter(after.train_dataloader()))["pairs"]["src"]["input_ids"].shape[0] == 4
    # other options than the prepared ones: an error that says what to run
    changed = ParallelDataModule(files=source, prepared=True, **{**options, "max_length": 32,
                                                                "cache_dir": str(tmp_path / "node" / "cache")})
    with pytest.raises(ValueError, match="other options.*veco-prepare"):
        changed.prepare_data()
    missing = ParallelDataModule(files=source, prepared=True, **{**options, "cache_dir": str(tmp_path / "none")})
    with pytest.raises(FileNotFoundError, match="veco-prepare"):
        missing.prepare_data()


def test_veco_prepare_then_veco_fit_prepared(tokenizer_dir, tmp_path, capsys):
    root = _corpus(tmp_path)
    config = tmp_path / "run.yaml"
    config.write_text(f"""
trainer: {{accelerator: cpu, max_steps: 2, logger: false, enable_checkpointing: false, enable_progress_bar: false,
          limit_val_batches: 0, default_root_dir: {tmp_path / 'run'}}}
model: {{encoder: {{preset: tiny, max_length: 40}}}}
export: {{enabled: false}}
data:
  tokenizer: {tokenizer_dir}
  monolingual: {{files: {{en: {root / 'en.txt'}, ru: {root / 'ru.txt'}}}, max_length: 16, batch_size: 4,
                cache_dir: {root / 'cache'}, shard_rows: 100}}
  parallel: {{files: {{ru-en: {{path: {root / 'ru-en.tsv'}}}}}, max_length: 40, batch_size: 4, val_pairs: 4,
             cache_dir: {root / 'cache'}}}
""")
    prepare_main(["--config", str(config), "--num_proc", "2"])
    out = capsys.readouterr().out
    assert "monolingual  en" in out and "parallel     ru-en" in out and "prepared.json" in out
    for name in ("en.txt", "ru.txt", "ru-en.tsv"):
        os.remove(root / name)
    main(["fit", "--config", str(config), "--data.prepared", "true"])
    assert "Run summary: 2 steps" in capsys.readouterr().out


def _doubled(batch):
    """A map function with a ``_stats`` column: each batch's row count and sum of ``x``."""
    import numpy as np
    import pyarrow as pa

    n = len(batch["x"])
    return pa.table({"y": pa.array([2 * x for x in batch["x"]], pa.int64()),
                     "_stats": cache.batch_stats(np.array([n, sum(batch["x"])]), n)})


@pytest.mark.parametrize("num_proc", [None, 2])
def test_shards_are_the_maps_own_files_and_stats_are_summed(tmp_path, num_proc):
    import datasets

    rows = datasets.Dataset.from_dict({"x": list(range(50))})
    path = str(tmp_path / "out")
    summary = cache.write_sharded(path, rows, _doubled, shard_rows=20, num_proc=num_proc, desc="test", batch_size=7,
                                  remove_columns=["x"])
    assert [s["rows"] for s in summary["shards"]] == [17, 17, 16]
    # every batch's counts were written once, in its first row, and summed per shard
    assert [s["stats"] for s in summary["shards"]] == [[17, sum(range(17))], [17, sum(range(17, 34))],
                                                       [16, sum(range(34, 50))]]
    for shard in summary["shards"]:  # the map's Arrow files, moved: no save_to_disk copy beside them
        assert sorted(os.listdir(os.path.join(path, shard["name"]))) == shard["files"]
    loaded = cache.load_sharded(path)
    assert loaded.column_names == ["y"] and loaded["y"] == [2 * x for x in range(50)]

