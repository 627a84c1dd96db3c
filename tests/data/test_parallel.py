import torch
from conftest import sentences

from veco_lightning.cli import run_cli
from veco_lightning.data.parallel import ParallelDataModule, ParallelSource
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
