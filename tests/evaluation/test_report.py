"""Evaluation reports: typed metadata in results.json, readable results.md, the pictures and the image loggers."""

import json
import logging
import math
import os
from types import SimpleNamespace

import pytest
import torch
from conftest import sentences

from veco_lightning.evaluation import report
from veco_lightning.evaluation.report import EvaluationReporter, model_source, to_json, write_report
from veco_lightning.evaluation.scorer import CrossLingualScorer, EvaluationOptions
from veco_lightning.models.encoder import EncoderSpec

RESULTS = {
    "retrieval": {"de-en": {"src2tgt": 0.9, "tgt2src": 0.8, "pairs": 100}, "zh-en": {"src2tgt": 0.5, "tgt2src": 0.6,
                                                                                     "pairs": 50}},
    "synonym": {"de-en": {"src2tgt": 0.7, "tgt2src": float("nan"), "word_pairs": 40}},
    "alignment": {"de-en": {"aer": 0.25, "precision": 0.8, "recall": 0.7}},
    "mining": {"bucc-de-en": {"f1": 0.8, "precision": 0.9, "recall": 0.72, "dev_f1": 0.85, "threshold": 1.07}},
}


def test_write_report_writes_typed_metadata_and_bar_charts(tmp_path):
    ckpt = tmp_path / "last.ckpt"
    ckpt.write_bytes(b"")
    metadata = {"date": "2024-01-01T00:00:00+00:00", "global_step": torch.tensor(12),
                "model": model_source(EncoderSpec(preset="tiny", overrides={"hidden_dropout_prob": 0.0}), str(ckpt)),
                "evaluation": EvaluationOptions(layer=6, margin=True),
                "data": {"sets": [{"name": "de-en", "pairs": 100, "gold_alignments": True}]},
                "versions": report.software_versions()}
    paths = write_report(RESULTS, str(tmp_path / "eval"), metadata)

    saved = json.loads((tmp_path / "eval" / "results.json").read_text(encoding="utf-8"))
    meta = saved["metadata"]
    assert meta["global_step"] == 12 and isinstance(meta["global_step"], int)
    assert meta["model"] == {"weights_from": "checkpoint", "path": str(ckpt), "tokenizer": None,
                             "encoder": {"preset": "tiny", "path": None, "overrides": {"hidden_dropout_prob": 0.0},
                                         "attn_implementation": "sdpa", "max_length": 512,
                                         "trust_remote_code": False, "fast_dropout": True}}
    assert meta["evaluation"]["layer"] == 6 and meta["evaluation"]["margin"] is True
    assert meta["evaluation"]["report_dir"] is None and meta["evaluation"]["margin_k"] == 4
    assert meta["data"]["sets"][0]["pairs"] == 100 and meta["data"]["sets"][0]["gold_alignments"] is True
    import veco_lightning

    assert meta["versions"]["veco_lightning"] == veco_lightning.__version__
    assert meta["versions"]["torch"] == torch.__version__ and isinstance(meta["versions"]["transformers"], str)
    results = saved["results"]
    assert results["retrieval"]["average"]["src2tgt"] == pytest.approx(0.7)
    assert results["synonym"]["de-en"]["tgt2src"] is None  # NaN is not JSON
    assert isinstance(results["retrieval"]["de-en"]["pairs"], int)

    for key, name in (("retrieval_bars", "retrieval_accuracy.png"), ("synonym_bars", "synonym_accuracy.png"),
                      ("mining_bars", "mining_f1.png")):
        assert paths[key] == str(tmp_path / "eval" / name) and (tmp_path / "eval" / name).stat().st_size > 5000
    markdown = (tmp_path / "eval" / "results.md").read_text(encoding="utf-8")
    assert "| bucc-de-en | 80.0 | 90.0 | 72.0 | 85.0 | 1.070 |" in markdown
    assert "![synonym bars](synonym_accuracy.png)" in markdown
    assert "- **weights_from**: checkpoint" in markdown and f"- **path**: {ckpt}" in markdown
    assert "| name | pairs | gold_alignments |\n|---|---|---|\n| de-en | 100 | yes |" in markdown


def test_only_scored_metrics_are_drawn(tmp_path):
    paths = write_report({"retrieval": RESULTS["retrieval"]}, str(tmp_path))
    assert "retrieval_bars" in paths and "synonym_bars" not in paths and "mining_bars" not in paths
    assert json.loads((tmp_path / "results.json").read_text())["metadata"] == {}


def test_model_source_names_where_the_weights_come_from(tmp_path):
    export = tmp_path / "hf_model"
    export.mkdir()
    spec = {"preset": None, "path": str(export)}
    assert model_source(spec)["weights_from"] == "export directory"
    assert model_source(spec)["path"] == str(export)
    assert model_source(spec, "/elsewhere/last.ckpt")["weights_from"] == "checkpoint"
    assert model_source(EncoderSpec(preset=None, path="org/model"))["path"] == "org/model"
    assert model_source(EncoderSpec(preset=None, path="org/model"))["weights_from"] == "hub"
    assert model_source(None)["weights_from"] == "preset (random initialisation)"


def test_to_json_gives_json_types(tmp_path):
    import numpy as np

    value = {1: (torch.tensor(0.5), np.float32(2.0), np.int64(3)), "set": {"b", "a"}, "path": tmp_path,
             "inf": math.inf, "ok": True, "tensor": torch.arange(3), "other": object}
    out = to_json(value)
    assert out == {"1": [0.5, 2.0, 3], "set": ["a", "b"], "path": str(tmp_path), "inf": None, "ok": True,
                   "tensor": [0, 1, 2], "other": str(object)}
    json.dumps(out, allow_nan=False)



class _ImageLogger:
    def __init__(self):
        self.images = {}

    def add_image(self, tag, image, step, dataformats):
        assert dataformats == "HWC" and image.shape[2] == 3
        self.images[tag] = step


def _wandb_and_mlflow():
    """Lightning's W&B and MLflow loggers with the calls that would reach their services recorded instead."""
    from lightning.pytorch.loggers import MLFlowLogger, WandbLogger

    class Wandb(WandbLogger):
        def __init__(self):
            self.images = {}

        def log_image(self, key, images, step=None, **kwargs):
            assert len(images) == 1 and str(images[0]).endswith(".png") and os.path.isfile(images[0])
            self.images[key] = step

    class Client:
        def __init__(self):
            self.artifacts = []

        def log_artifact(self, run_id, local_path, artifact_path=None):
            self.artifacts.append((run_id, os.path.basename(local_path), artifact_path))

    class MLflow(MLFlowLogger):
        def __init__(self):
            self.client = Client()

        @property
        def experiment(self):
            return self.client

        @property
        def run_id(self):
            return "run-1"

    return Wandb(), MLflow()


def test_reporter_writes_metadata_heatmap_and_logs_every_picture(tmp_path, tokenizer_dir, corpus_dir, caplog):
    """The reporter of a test run (stand-in module and trainer, a real evaluation datamodule): where the weights come
    from, the sets and their sizes, the options; each picture in the report and in the image logger."""
    from veco_lightning.evaluation.bitext_mining import make_bucc_task
    from veco_lightning.evaluation.datamodule import EvaluationDataModule
    from veco_lightning.evaluation.sources import BuccSource, PairSource

    make_bucc_task(sentences("ru"), sentences("en"), str(tmp_path / "bucc"), pair="ru-en", n_gold=10,
                   n_distractors=10, seed=0)
    data = EvaluationDataModule(
        pairs={"zh-en": PairSource(src=str(corpus_dir / "zh.txt"), tgt=str(corpus_dir / "en.txt"))},
        bucc=BuccSource(root=str(tmp_path / "bucc"), pairs=["ru-en"]), tokenizer=str(tokenizer_dir), max_length=32)
    data.setup("test")
    ckpt = tmp_path / "epoch=0.ckpt"
    ckpt.write_bytes(b"")
    options = EvaluationOptions(report_dir=str(tmp_path / "eval"), heatmap_set="zh-en", heatmap_pair=1)
    embedding = torch.nn.Embedding(data.vocab_size, 8)
    images = _ImageLogger()
    wandb, mlflow = _wandb_and_mlflow()
    module = SimpleNamespace(
        trainer=SimpleNamespace(datamodule=data, ckpt_path=str(ckpt), is_global_zero=True, log_dir=None,
                                default_root_dir=str(tmp_path)),
        hparams={"encoder": EncoderSpec(preset="tiny"), "tokenizer": str(tokenizer_dir)},
        scorer=CrossLingualScorer(options), global_step=42, device=torch.device("cpu"),
        encode_layer=lambda ids, mask: embedding(ids), loggers=[SimpleNamespace(experiment=images),
                                                                SimpleNamespace(experiment=object()), wandb, mlflow],
    )
    reporter = EvaluationReporter(module, "test")
    results = {"retrieval": {"zh-en": {"src2tgt": 0.5, "tgt2src": 0.25, "pairs": 64}},
               "synonym": {"zh-en": {"src2tgt": 0.4, "tgt2src": 0.3, "word_pairs": 9}},
               "mining": {"bucc-ru-en": {"f1": 0.5, "precision": 0.5, "recall": 0.5, "dev_f1": 0.6,
                                         "threshold": 1.1}}}
    reporter.write(results)

    meta = json.loads((tmp_path / "eval" / "results.json").read_text(encoding="utf-8"))["metadata"]
    assert meta["stage"] == "test" and meta["global_step"] == 42 and meta["date"].endswith("+00:00")
    assert meta["model"]["weights_from"] == "checkpoint" and meta["model"]["path"] == str(ckpt)
    assert meta["model"]["encoder"]["preset"] == "tiny" and meta["model"]["tokenizer"] == str(tokenizer_dir)
    assert meta["evaluation"]["heatmap_set"] == "zh-en" and meta["evaluation"]["heatmap_pair"] == 1
    assert meta["data"]["sets"] == [{"name": "zh-en", "languages": "zh-en", "pairs": len(sentences("zh")),
                                     "synonym_pairs": 0, "gold_alignments": False}]
    dev, test = meta["data"]["mining"]
    assert (dev["task"], dev["split"], dev["role"], test["split"], test["role"]) == (
        "bucc-ru-en", "dev", "threshold", "test", "reported")
    assert dev["gold_pairs"] + test["gold_pairs"] == 10 and dev["source_sentences"] > dev["gold_pairs"]
    heatmap = tmp_path / "eval" / "word_similarity_zh-en_1.png"
    assert heatmap.stat().st_size > 5000
    assert f"![heatmap]({heatmap.name})" in (tmp_path / "eval" / "results.md").read_text(encoding="utf-8")
    assert images.images == {f"test/{key}": 42 for key in ("retrieval_bars", "synonym_bars", "mining_bars",
                                                          "heatmap")}
    assert wandb.images == images.images
    assert sorted(mlflow.client.artifacts) == [
        ("run-1", name, "test/step-42") for name in ("mining_f1.png", "retrieval_accuracy.png",
                                                     "synonym_accuracy.png", heatmap.name)]
    # heatmap_set null draws none; a set the data does not have says so
    pairs = len(sentences("zh"))
    for chosen, pair, warning in ((None, 0, None), ("de-en", 0, "heatmap_set 'de-en' names none of the evaluation "
                                                                "sets (zh-en)"),
                                  ("zh-en", 10**6, f"heatmap_pair is 1000000 but set zh-en has {pairs} pairs")):
        caplog.clear()
        report_dir = tmp_path / f"eval-{chosen}"
        module.scorer = CrossLingualScorer(EvaluationOptions(report_dir=str(report_dir), heatmap_set=chosen,
                                                             heatmap_pair=pair))
        with caplog.at_level(logging.WARNING):
            EvaluationReporter(module, "test").write(results)
        assert (report_dir / "results.md").exists() and not list(report_dir.glob("word_similarity_*.png"))
        assert ("No heatmap" in caplog.text) == (warning is not None) and (warning or "") in caplog.text


def test_averages_are_unweighted_means_without_a_mean_threshold():
    """The average row is the mean over sets (XTREME's language average); a BUCC task without gold on its test split
    (F1 None) stays out of the F1 mean, and thresholds, each on its own task's margin scale, are not averaged."""
    mining = {"bucc-de-en": {"f1": 0.8, "dev_f1": 0.85, "threshold": 1.07},
              "bucc-zh-en": {"f1": None, "dev_f1": 0.65, "threshold": 1.2}}
    averaged = report.with_averages({"mining": mining, "retrieval": RESULTS["retrieval"]})
    assert averaged["mining"]["average"] == {"f1": 0.8, "dev_f1": pytest.approx(0.75)}
    assert averaged["retrieval"]["average"]["src2tgt"] == pytest.approx(0.7)
    assert "| **average** | 80.0 | – | – | 75.0 | – |" in report.markdown_tables({"mining": averaged["mining"]})


def test_xtreme_tatoeba_positions_follow_xtremes_sorted_english_file():
    """XTREME's preprocessing writes Tatoeba's English side sorted by the stripped text (stable: equal lines keep their
    order); predictions and gold index that file."""
    english = [" b", "a", "b", "a \n"]
    xtreme_file = [i for _, i in sorted(zip([t.strip() for t in english], range(len(english))), key=lambda x: x[0])]
    positions = report.xtreme_tatoeba_positions(english)
    assert positions == [2, 0, 3, 1]
    assert [xtreme_file[p] for p in positions] == [0, 1, 2, 3]
