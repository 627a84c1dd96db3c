import numpy as np
import pyarrow as pa
import pytest
import torch
from conftest import sentences

from veco_lightning.cli import run_cli
from veco_lightning.data.cache import load_sharded
from veco_lightning.data.parallel import PairLengthKeys, ParallelDataModule, ParallelSource
from veco_lightning.data.sampling import LanguageSampler
from veco_lightning.losses.masked_lm import IGNORE_INDEX


def _files(tmp_path):
    files = {}
    for lang in ("ru", "zh"):
        path = tmp_path / f"{lang}-en.tsv"
        lines = [f"{a}\t{b}" for a, b in zip(sentences(lang), sentences("en"))]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        files[f"{lang}-en"] = ParallelSource(path=str(path))
    return files


def _datamodule(tmp_path, tokenizer_dir, **kwargs):
    args = dict(files=_files(tmp_path), tokenizer=str(tokenizer_dir), max_length=40, batch_size=8, val_pairs=8,
                cache_dir=str(tmp_path / "cache"), bucket_batches=4)
    dm = ParallelDataModule(**{**args, **kwargs})
    dm.prepare_data()
    dm.setup("fit")
    return dm


def test_tlm_masks_both_sides_and_views_are_clean(tokenizer_dir, tmp_path):
    dm = _datamodule(tmp_path, tokenizer_dir)
    assert {p: len(d) for p, d in dm.train_sets.items()} == {"ru-en": 56, "zh-en": 56}
    assert len(dm.held_out["ru-en"][0]) == 8
    tok = dm.tokenizer
    batches = [b for _, b in zip(range(6), dm.train_dataloader())]
    masked_src = masked_tgt = 0
    for batch in batches:
        tlm, pairs = batch["tlm"], batch["pairs"]
        labelled = tlm["labels"] != IGNORE_INDEX
        # labels only where the input was corrupted or kept by the 80/10/10 rule, never on specials or padding
        special = torch.isin(tlm["labels"], torch.tensor(tok.all_special_ids))
        assert not (labelled & special).any() and not (labelled & (tlm["attention_mask"] == 0)).any()
        assert (tlm["input_ids"][labelled] == tok.mask_token_id).float().mean() > 0.6
        for row in range(len(tlm["input_ids"])):
            ids = tlm["input_ids"][row]
            seps = (ids == tok.eos_token_id).nonzero().squeeze(1).tolist()
            boundary = seps[0]  # "<s> x </s></s> y </s>": first </s> ends x
            masked_src += int(labelled[row, :boundary].sum())
            masked_tgt += int(labelled[row, boundary:].sum())
        for side in ("src", "tgt"):
            view = pairs[side]["input_ids"]
            assert (view[:, 0] == tok.bos_token_id).all()
            assert not (view == tok.mask_token_id).any()  # contrastive views are never masked
        # the clean views are exactly the unmasked halves of the TLM sequence
        original = torch.where(labelled, tlm["labels"], tlm["input_ids"])
        row_src = pairs["src"]["input_ids"][0][pairs["src"]["attention_mask"][0].bool()]
        assert torch.equal(original[0, : len(row_src)], row_src)
    assert masked_src > 0 and masked_tgt > 0
    specials = torch.tensor([0, 1, 2])
    maskable = sum(int((b["tlm"]["attention_mask"].bool() & ~torch.isin(b["tlm"]["input_ids"], specials)).sum())
                   for b in batches)
    rate = sum(int((b["tlm"]["labels"] != IGNORE_INDEX).sum()) for b in batches) / maskable
    assert 0.18 < rate < 0.32  # 25% of the non-special tokens


def test_restart_positions(tokenizer_dir, tmp_path):
    dm = _datamodule(tmp_path, tokenizer_dir, restart_positions=True)
    tlm = next(iter(dm.train_dataloader()))["tlm"]
    ids, positions = tlm["input_ids"][0], tlm["position_ids"][0]
    second = (ids == dm.tokenizer.eos_token_id).nonzero()[1].item()  # "</s></s>": y's part starts here
    assert positions[0] == 2 and positions[second] == 2


def test_fit_mmlm_tlm_seq_and_heldout_retrieval(corpus_dir, tokenizer_dir, tmp_path):
    files = _files(tmp_path)
    parallel = "{" + ", ".join(f"{p}: {{path: {s.path}}}" for p, s in files.items()) + "}"
    mono = "{" + ", ".join(f"{lang}: {corpus_dir / f'{lang}.txt'}" for lang in ("en", "ru", "zh")) + "}"
    cli = run_cli([
        "fit", "--config", "tests/conf/tiny.yaml",
        f"--data.tokenizer={tokenizer_dir}", f"--data.monolingual.files={mono}",
        f"--data.monolingual.cache_dir={tmp_path / 'cache'}",
        f"--data.parallel={{files: {parallel}, max_length: 16, batch_size: 4, val_pairs: 8, "
        f"cache_dir: {tmp_path / 'cache'}}}",
        f"--trainer.default_root_dir={tmp_path / 'run'}", "--export.enabled=false",
    ])
    metrics = cli.trainer.callback_metrics
    for name in ("train/mmlm_loss", "train/tlm_loss", "train/seq_loss", "val/retrieval/ru-en-heldout/src2tgt",
                 "val/retrieval/average/src2tgt"):
        assert name in metrics, name
    assert torch.isfinite(metrics["train/loss"])


def test_a_bare_path_names_a_pair_file_in_a_config(corpus_dir, tokenizer_dir, tmp_path):
    """``de-en: pairs.tsv`` (as monolingual ``en: en.txt``) means ``{path: pairs.tsv}`` in a YAML config, for training
    and evaluation pairs alike; the file is never read as a config."""
    files = _files(tmp_path)
    config = tmp_path / "pairs.yaml"
    config.write_text(
        "data:\n"
        "  parallel:\n"
        f"    files: {{ru-en: {files['ru-en'].path}, zh-en: [{files['zh-en'].path}]}}\n"
        f"    max_length: 16\n    batch_size: 4\n    val_pairs: 8\n    cache_dir: {tmp_path / 'cache'}\n"
        "  evaluation:\n"
        f"    pairs: {{ru-en: {files['ru-en'].path}}}\n    max_length: 16\n",
        encoding="utf-8")
    mono = "{" + ", ".join(f"{lang}: {corpus_dir / f'{lang}.txt'}" for lang in ("en", "ru", "zh")) + "}"
    cli = run_cli([
        "fit", "--config", "tests/conf/tiny.yaml", "--config", str(config),
        f"--data.tokenizer={tokenizer_dir}", f"--data.monolingual.files={mono}",
        f"--data.monolingual.cache_dir={tmp_path / 'cache'}",
        f"--trainer.default_root_dir={tmp_path / 'run'}", "--export.enabled=false",
    ])
    parallel = cli.datamodule.sources["parallel"]
    assert parallel.files == {"ru-en": ParallelSource(path=files["ru-en"].path),
                              "zh-en": ParallelSource(path=[files["zh-en"].path])}
    assert vars(cli.datamodule.evaluation.pairs["ru-en"])["path"] == files["ru-en"].path
    metrics = cli.trainer.callback_metrics
    for name in ("train/tlm_loss", "train/seq_loss", "val/retrieval/ru-en/src2tgt"):
        assert name in metrics, name


def test_pair_sources_from_plain_values(tokenizer_dir, tmp_path):
    from veco_lightning.data.readers import as_pair_source
    from veco_lightning.evaluation.sources import PairSource

    assert as_pair_source("a.tsv", "de-en") == ParallelSource(path="a.tsv")
    assert as_pair_source({"src": "a.de", "tgt": "a.en", "lines": [0, 5]}, "de-en") == ParallelSource(
        src="a.de", tgt="a.en", lines=[0, 5])
    assert as_pair_source(ParallelSource(path="a.tsv"), "de-en", PairSource) == PairSource(path="a.tsv")
    with pytest.raises(ValueError, match=r"Pairs 'de-en': unknown field\(s\) \['pth'\]; the fields are path, src"):
        as_pair_source({"pth": "a.tsv"}, "de-en")
    with pytest.raises(TypeError, match="Pairs 'de-en': expected a path"):
        as_pair_source(3, "de-en")
    with pytest.raises(ValueError, match="ru-en: 64 pairs cannot spare val_pairs=64 for validation; "
                                         "set data.parallel.val_pairs below 64"):
        _datamodule(tmp_path, tokenizer_dir, val_pairs=64)


def test_tlm_fraction_keeps_every_contrastive_pair(tokenizer_dir, tmp_path):
    dm = _datamodule(tmp_path, tokenizer_dir, tlm_fraction=0.25)
    batch = next(iter(dm.train_dataloader()))
    assert batch["pairs"]["src"]["input_ids"].shape[0] == 8
    tlm = batch["tlm"]
    assert tlm["input_ids"].shape[0] == 2  # ceil(0.25 * 8)
    # the TLM rows are the first pairs of the batch
    original = torch.where(tlm["labels"] != IGNORE_INDEX, tlm["labels"], tlm["input_ids"])
    for row in range(2):
        src = batch["pairs"]["src"]["input_ids"][row][batch["pairs"]["src"]["attention_mask"][row].bool()]
        assert torch.equal(original[row, : len(src)], src)


def test_views_carry_sentence_keys(tokenizer_dir, tmp_path):
    dm = _datamodule(tmp_path, tokenizer_dir)
    pairs = next(iter(dm.train_dataloader()))["pairs"]
    for side in ("src", "tgt"):
        ids, keys = pairs[side]["input_ids"], pairs[f"{side}_keys"]
        for a in range(len(keys)):
            for b in range(len(keys)):
                assert (keys[a] == keys[b]) == torch.equal(ids[a], ids[b])


def test_length_keys_follow_the_views(tokenizer_dir, tmp_path):
    """With the clean views the pairs are sorted by their longer side, then by their concatenated length; with the
    TLM view alone by the concatenated length (the stored ``length`` column)."""
    dm = _datamodule(tmp_path, tokenizer_dir)
    index = np.arange(sum(len(d) for d in dm.train_sets.values()))
    rows = [row for pair in dm.train_sets for row in dm.train_sets[pair]]
    src = np.array([len(r["src"]) for r in rows])
    tgt = np.array([len(r["tgt"]) for r in rows])
    keys = dm.length_keys()[index]
    assert len(dm.length_keys()) == len(rows)
    order = np.lexsort((src + tgt, np.maximum(src, tgt)))  # last key first: longer side, then total
    assert np.array_equal(np.sort(keys), keys[order])
    assert np.array_equal(keys >> 32, np.maximum(src, tgt)) and np.array_equal(keys & 0xFFFFFFFF, src + tgt + 4)
    stored = np.concatenate([load_sharded(dm.cache_location(p)).data.column("length").to_numpy()
                             for p in dm.train_sets])
    assert np.array_equal(stored, src + tgt + 4)
    tlm_only = _datamodule(tmp_path, tokenizer_dir, contrastive=False)
    assert np.array_equal(tlm_only.length_keys()[index], stored)


def test_bucketing_by_the_longer_side_pads_the_joined_pairs_less():
    """Pairs whose sides differ in length: sorted by the concatenated length, their joined ``(2B, L)`` batches hold
    much padding; sorted by the longer side first, less, for a little more padding in the TLM view."""
    rng = np.random.default_rng(0)
    n, batch = 2000, 16
    src = rng.integers(3, 60, n)
    tgt = np.clip((src * rng.uniform(0.5, 1.6, n)).astype(int), 2, 62)
    column = {side: pa.chunked_array([pa.array([[1] * k for k in lengths[:900]]),  # two chunks, as shards give
                                      pa.array([[1] * k for k in lengths[900:]])])
              for side, lengths in (("src", src), ("tgt", tgt))}

    def padding(contrastive):
        keys = PairLengthKeys([column["src"]], [column["tgt"]], contrastive)
        sampler = LanguageSampler([n], 1.0, num_replicas=1, rank=0, seed=3, lengths=keys, batch_size=batch,
                                  bucket_batches=20)
        order = np.array(list(sampler))
        real = joined = tlm = 0
        for k in range(0, n - batch + 1, batch):
            i = order[k : k + batch]
            real += (src[i] + tgt[i]).sum()
            joined += 2 * batch * max(src[i].max(), tgt[i].max())
            tlm += batch * (src[i] + tgt[i]).max()
        return 1 - real / joined, 1 - real / tlm

    by_total, by_longer = padding(False), padding(True)
    assert by_longer[0] < 0.8 * by_total[0]  # the joined clean views
    assert by_longer[1] > by_total[1]  # the TLM view's price
    assert (by_longer[0] + by_longer[1]) < (by_total[0] + by_total[1])


def test_list_lengths_read_the_chunks_offsets():
    """Lengths of lists in chunked, sliced columns (as prepared shards give), over several sets."""
    from veco_lightning.data.parallel import ArrowLengths

    rng = np.random.default_rng(0)
    lengths = rng.integers(0, 50, 3000)
    values = pa.array([[1] * k for k in lengths])
    columns = [pa.chunked_array([values.slice(0, 1000), values.slice(1000, 5), values.slice(1005, 600)]),
               pa.chunked_array([values.slice(1605)])]
    index = rng.integers(0, 3000, 4000)
    assert np.array_equal(ArrowLengths(columns).list_lengths(index), lengths[index])


def test_a_side_the_tokenizer_does_not_cover_is_warned_about(tokenizer_dir, tmp_path, caplog):
    thai = "ฉันดื่มกาแฟทุกเช้า พรุ่งนี้ฝนจะตก"
    pairs = [f"{thai} {i}\t{sentence}" for i, sentence in enumerate(sentences("en") * 10)]
    (tmp_path / "th-en.tsv").write_text("\n".join(pairs) + "\n", encoding="utf-8")
    dm = ParallelDataModule(files={"th-en": ParallelSource(path=str(tmp_path / "th-en.tsv"))},
                            tokenizer=str(tokenizer_dir), max_length=32, batch_size=4, val_pairs=0,
                            cache_dir=str(tmp_path / "cache"))
    dm.prepare_data()
    with caplog.at_level("WARNING", logger="veco_lightning.data.base"):
        dm.setup("fit")
    warned = [r.getMessage() for r in caplog.records if "unknown token" in r.getMessage()]
    assert len(warned) == 1 and warned[0].startswith("parallel th-en (th side): ")  # the English side is covered
