"""The Hugging Face export: a tokenizer that truncates where the positions end and that transformers 4 reads, a
sentence-transformers configuration that embeds as the evaluation does, a model card, XLM-R's config values."""

import json
import os
from types import SimpleNamespace

import lightning
import pytest
import torch
from transformers import AutoModel, AutoTokenizer

from veco_lightning.evaluation.scorer import EvaluationOptions
from veco_lightning.models.encoder import EncoderSpec
from veco_lightning.models.export import ExportPretrained, export_checkpoint, write_sentence_transformers_config
from veco_lightning.models.pooling import pool_sentences
from veco_lightning.module import VecoPretrainModule

MAX_LENGTH = 16  # the tiny encoder's usable length: 18 positions, the first two reserved by XLM-R's offset
TEXTS = ["the small dog sees a big river.", "小狗喜欢新学校。", "мой старый друг находит новую школу.",
         "the <mask> dog " * 20]  # the last one is longer than the position table


class _Strategy:
    """What the callback asks of a strategy, for one process."""

    def __init__(self, module):
        self.module = module

    def lightning_module_state_dict(self):
        return self.module.state_dict()

    def barrier(self, name=None):
        pass


def _module(tokenizer_dir, pooling="mean", layer=-1):
    from veco_lightning.data.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(str(tokenizer_dir))
    torch.manual_seed(0)
    return VecoPretrainModule(encoder=EncoderSpec(preset="tiny", max_length=MAX_LENGTH), vocab_size=len(tokenizer),
                              pad_token_id=tokenizer.pad_token_id, tokenizer=str(tokenizer_dir),
                              evaluation=EvaluationOptions(pooling=pooling, layer=layer)).eval()


def _fit_end_export(module, tmp_path):
    """Run the ExportPretrained callback as the end of ``fit`` does; returns the export directory."""
    logger = SimpleNamespace(log_dir=str(tmp_path / "log"), save_dir=str(tmp_path))
    trainer = SimpleNamespace(strategy=_Strategy(module), is_global_zero=True, loggers=[logger],
                              default_root_dir=str(tmp_path), datamodule=None)
    ExportPretrained().on_fit_end(trainer, module)
    return tmp_path / "log" / "hf_model"


def _evaluation_embedding(module, tokenizer, texts):
    """What the project's evaluation scores: the module's evaluation layer, pooled as its options say."""
    batch = tokenizer(texts, padding=True, truncation=True, return_tensors="pt")
    with torch.no_grad():
        hidden = module.encode_layer(batch["input_ids"], batch["attention_mask"])
    return pool_sentences(hidden, batch["attention_mask"], module.scorer.options.pooling)


def test_export_truncates_at_the_position_table(tokenizer_dir, tmp_path):
    from sentence_transformers import SentenceTransformer

    module = _module(tokenizer_dir)
    out = _fit_end_export(module, tmp_path)
    config = module.model.config
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert tokenizer.model_max_length == config.max_position_embeddings - config.pad_token_id - 1 == MAX_LENGTH
    batch = tokenizer(TEXTS, padding=True, truncation=True, return_tensors="pt")
    assert batch["input_ids"].shape == (len(TEXTS), MAX_LENGTH)
    with torch.no_grad():  # an over-long input no longer runs past the position table
        AutoModel.from_pretrained(out)(**batch)
    model = SentenceTransformer(str(out), device="cpu")
    assert model.max_seq_length == MAX_LENGTH
    assert model.encode(TEXTS, convert_to_tensor=True).shape == (len(TEXTS), config.hidden_size)


def test_tokenizer_is_saved_under_a_class_transformers_4_knows(tokenizer_dir, tmp_path):
    from veco_lightning.data.tokenizer import load_tokenizer

    out = _fit_end_export(_module(tokenizer_dir), tmp_path)
    for directory in (tokenizer_dir, out):  # trained by veco-train-tokenizer, and exported
        with open(os.path.join(directory, "tokenizer_config.json"), encoding="utf-8") as handle:
            saved = json.load(handle)
        assert saved["tokenizer_class"] == "PreTrainedTokenizerFast"  # transformers 5 writes TokenizersBackend
        assert not {"is_local", "local_files_only"} & set(saved)
    original, exported = load_tokenizer(str(tokenizer_dir)), AutoTokenizer.from_pretrained(out)
    assert exported(TEXTS[:3])["input_ids"] == original(TEXTS[:3])["input_ids"]
    assert exported.mask_token_id == original.mask_token_id == len(original) - 1


@pytest.mark.parametrize(("pooling", "layer"), [("mean", -1), ("cls", -1), ("mean", 1), ("cls", 0)])
def test_sentence_transformers_embeds_as_the_evaluation(tokenizer_dir, tmp_path, pooling, layer):
    from sentence_transformers import SentenceTransformer

    module = _module(tokenizer_dir, pooling, layer)
    out = _fit_end_export(module, tmp_path)
    tokenizer = AutoTokenizer.from_pretrained(out)
    expected = _evaluation_embedding(module, tokenizer, TEXTS)
    model = SentenceTransformer(str(out), device="cpu")
    got = model.encode(TEXTS, convert_to_tensor=True, batch_size=len(TEXTS))  # one padded batch, as evaluation
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)
    got_one_by_one = torch.stack([model.encode(text, convert_to_tensor=True) for text in TEXTS])
    torch.testing.assert_close(got_one_by_one, expected, rtol=0, atol=1e-5)  # padding changes nothing
    card = (out / "README.md").read_text(encoding="utf-8")
    assert f"`pooling: {pooling}`, `layer: {layer}`" in card
    assert ("loads only the first" in card) == (layer not in (-1, 2))


def test_sentence_transformers_config_rejects_a_layer_the_encoder_lacks(tokenizer_dir, tmp_path):
    config = _module(tokenizer_dir).model.config
    with pytest.raises(ValueError, match="layer=3 but the encoder has 2 layers"):
        write_sentence_transformers_config(str(tmp_path), config, "mean", 3)
    with pytest.raises(ValueError, match="Unknown pooling"):
        write_sentence_transformers_config(str(tmp_path), config, "max", -1)


def test_config_matches_xlm_r(tokenizer_dir, tmp_path):
    out = _fit_end_export(_module(tokenizer_dir), tmp_path)
    with open(out / "config.json", encoding="utf-8") as handle:
        config = json.load(handle)
    assert config["layer_norm_eps"] == 1e-5
    assert config["model_type"] == "xlm-roberta" and config["architectures"] == ["XLMRobertaForMaskedLM"]


def _run_files(log_dir, layer):
    """The run's config.yaml and an evaluation report, as veco-fit writes them."""
    os.makedirs(log_dir / "eval", exist_ok=True)
    (log_dir / "config.yaml").write_text(
        "seed_everything: 0\ndata:\n  monolingual:\n    files: {en: [en.txt], ru: [ru.txt]}\n"
        "  parallel:\n    files: {zh-en: {path: zh-en.tsv}}\nmodel:\n  loss_weights: {mmlm: 1.0, tlm: 1.0}\n",
        encoding="utf-8")
    (log_dir / "eval" / "results.md").write_text(
        "# Cross-lingual evaluation\n\n- layer: -1\n- pooling: mean\n\n### Sentence retrieval (top-1 accuracy, %)\n\n"
        "| set | acc xx→en | acc en→xx | pairs |\n|---|---|---|---|\n| de-en | 12.5 | 25.0 | 8 |\n", encoding="utf-8")
    (log_dir / "eval" / "results.json").write_text(json.dumps({"metadata": {"layer": str(layer), "pooling": "mean"}}),
                                                   encoding="utf-8")


def test_model_card_describes_the_run(tokenizer_dir, tmp_path):
    module = _module(tokenizer_dir, "mean", 1)
    _run_files(tmp_path / "log", layer=-1)
    card = (_fit_end_export(module, tmp_path) / "README.md").read_text(encoding="utf-8")
    assert card.startswith("---\nlibrary_name: transformers\n")
    assert "language:\n- en\n- ru\n- zh\n" in card  # from the run's data config
    assert "XLM-R architecture): 2 layers, hidden size 64" in card
    assert f"a vocabulary of {module.model.config.vocab_size} tokens" in card and f"up to {MAX_LENGTH} tokens" in card
    assert "SentenceTransformer(" in card and 'pipeline("fill-mask"' in card
    assert "loads only the first 1 of the 2 layers" in card
    assert "loss_weights: {mmlm: 1.0, tlm: 1.0}" in card  # the run's config.yaml
    assert "| de-en | 12.5 | 25.0 | 8 |" in card and "# Cross-lingual evaluation" not in card
    assert "measured with pooling mean of layer -1, not with the embedding configured above" in card


def test_veco_export_finds_the_run_of_a_checkpoint(tokenizer_dir, tmp_path):
    from veco_lightning.models.export import main

    module = _module(tokenizer_dir, "cls", -1)
    log_dir = tmp_path / "run" / "version_0"
    os.makedirs(log_dir / "checkpoints")
    ckpt = log_dir / "checkpoints" / "last.ckpt"
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams),
                "pytorch-lightning_version": lightning.__version__}, ckpt)
    _run_files(log_dir, layer=-1)
    out = tmp_path / "export"
    main(["--checkpoint", str(ckpt), "--output_dir", str(out)])
    with open(out / "1_Pooling" / "config.json", encoding="utf-8") as handle:
        assert json.load(handle)["pooling_mode_cls_token"] is True  # the checkpoint's evaluation options
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "| de-en | 12.5 | 25.0 | 8 |" in card and "seed_everything: 0" in card
    assert "not with the embedding configured above" in card  # measured with mean pooling, exported cls
    with pytest.raises(FileNotFoundError, match="--results"):
        export_checkpoint(str(ckpt), str(tmp_path / "other"), results=str(tmp_path / "missing.md"))


def test_model_card_without_a_run_uses_the_hyper_parameters(tokenizer_dir, tmp_path):
    card = (_fit_end_export(_module(tokenizer_dir), tmp_path) / "README.md").read_text(encoding="utf-8")
    assert "preset: tiny" in card and "pooling: mean" in card  # hparams: EncoderSpec, EvaluationOptions
    assert "No evaluation report was found" in card and "language:" not in card


def test_an_export_over_an_earlier_one_loads_the_new_weights(tmp_path, monkeypatch):
    # A sharded model (as save_pretrained writes one over 5 GB) exported where a whole one was: the earlier
    # model.safetensors must not stay beside the shards, or from_pretrained would load it.
    from transformers import AutoModelForMaskedLM, PreTrainedModel

    from veco_lightning.models.encoder import build_encoder
    from veco_lightning.models.export import export_pretrained

    torch.manual_seed(0)
    first = build_encoder(EncoderSpec(preset="tiny"), vocab_size=100)
    torch.manual_seed(1)
    second = build_encoder(EncoderSpec(preset="tiny"), vocab_size=100)
    export_pretrained(first, str(tmp_path))
    monkeypatch.setattr(type(second), "save_pretrained",
                        lambda self, path, **kw: PreTrainedModel.save_pretrained(self, path, max_shard_size="200KB"))
    export_pretrained(second, str(tmp_path))
    assert "model.safetensors" not in os.listdir(tmp_path) and "model.safetensors.index.json" in os.listdir(tmp_path)
    loaded = AutoModelForMaskedLM.from_pretrained(tmp_path)
    weight = lambda model: model.roberta.embeddings.word_embeddings.weight  # noqa: E731
    assert torch.equal(weight(loaded), weight(second))


def test_a_checkpoint_exports_from_another_directory(tokenizer_dir, tmp_path, monkeypatch):
    # Paths given relative to the run's directory are recorded absolute, so the checkpoint exports (and evaluates)
    # from anywhere; a checkpoint of earlier versions, which recorded them as given, gets an error that says why.
    import shutil

    from veco_lightning.data.tokenizer import load_tokenizer
    from veco_lightning.models.export import main

    run = tmp_path / "run"
    shutil.copytree(tokenizer_dir, run / "tok")
    monkeypatch.chdir(run)
    base = VecoPretrainModule(encoder=EncoderSpec(preset="tiny"), vocab_size=len(load_tokenizer("tok")))
    base.model.save_pretrained(run / "base")
    module = VecoPretrainModule(encoder=EncoderSpec(path="base"), tokenizer="tok")
    assert module.hparams["tokenizer"] == str(run / "tok") and module.hparams["encoder"].path == str(run / "base")
    ckpt = run / "last.ckpt"
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams),
                "pytorch-lightning_version": lightning.__version__}, ckpt)
    old = run / "old.ckpt"  # as earlier versions recorded them
    torch.save({"state_dict": module.state_dict(),
                "hyper_parameters": {**module.hparams, "tokenizer": "./tok", "encoder": EncoderSpec(path="./base")},
                "pytorch-lightning_version": lightning.__version__}, old)
    monkeypatch.chdir(tmp_path)
    main(["--checkpoint", str(ckpt), "--output_dir", str(tmp_path / "export")])
    assert AutoTokenizer.from_pretrained(tmp_path / "export").vocab_size == load_tokenizer(str(run / "tok")).vocab_size
    with pytest.raises(FileNotFoundError, match=r"encoder.path './base' does not exist \(relative to the working "
                                                r"directory"):
        main(["--checkpoint", str(old), "--output_dir", str(tmp_path / "export_old")])
    from veco_lightning.checkpointing import tokenizer_of

    with pytest.raises(FileNotFoundError, match=r"records its tokenizer as './tok', a relative path that is not "
                                                r"found from .*run from the directory that run started in"):
        tokenizer_of(str(old))
    from veco_lightning.models.encoder import build_encoder

    with pytest.raises(FileNotFoundError, match=r"records its encoder.path \(the model it continued\) as './base'"):
        build_encoder(EncoderSpec(path=str(old)))
