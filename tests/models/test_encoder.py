"""``encoder.overrides``: checked against the config's fields, applied to presets, exports and training checkpoints."""

import lightning
import pytest
import torch

from veco_lightning.models.encoder import EncoderSpec, build_encoder
from veco_lightning.module import VecoPretrainModule


def test_a_misspelt_override_is_an_error():
    with pytest.raises(ValueError, match=r"hidden_dropout \(did you mean hidden_dropout_prob\?\) is not a field of "
                                         r"XLMRobertaConfig"):
        build_encoder(EncoderSpec(preset="tiny", overrides={"hidden_dropout": 0.2}), vocab_size=50)
    with pytest.raises(ValueError, match="set encoder.attn_implementation"):
        build_encoder(EncoderSpec(preset="tiny", overrides={"attn_implementation": "eager"}), vocab_size=50)
    model = build_encoder(EncoderSpec(preset="tiny", overrides={"hidden_dropout_prob": 0.3}), vocab_size=50)
    assert model.config.hidden_dropout_prob == 0.3


def test_overrides_of_an_export_and_of_a_training_checkpoint(tmp_path):
    module = VecoPretrainModule(encoder=EncoderSpec(preset="tiny"), vocab_size=50)
    export = tmp_path / "export"
    module.model.save_pretrained(export)
    with pytest.raises(ValueError, match="attention_dropout.*is not a field of XLMRobertaConfig"):
        build_encoder(EncoderSpec(path=str(export), overrides={"attention_dropout": 0.0}))
    plain = build_encoder(EncoderSpec(path=str(export), overrides={"hidden_dropout_prob": 0.0}))
    assert plain.config.hidden_dropout_prob == 0

    ckpt = tmp_path / "last.ckpt"
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams),
                "pytorch-lightning_version": lightning.__version__}, ckpt)
    # Continued training from a checkpoint with another dropout: the override applies (it was ignored before),
    # over the shape and weights the checkpoint records.
    loaded = build_encoder(EncoderSpec(path=str(ckpt), overrides={"hidden_dropout_prob": 0.0}))
    assert loaded.config.hidden_dropout_prob == 0.0 and module.model.config.hidden_dropout_prob == 0.1
    for name, value in module.model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], value)
    with pytest.raises(ValueError, match="hiden_dropout_prob"):
        build_encoder(EncoderSpec(path=str(ckpt), overrides={"hiden_dropout_prob": 0.0}))


def test_a_folder_of_checkpoints_as_encoder_path_says_which_file_to_give(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.ckpt").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=r"directory without config.json.*It holds checkpoints \(last.ckpt\)"):
        build_encoder(EncoderSpec(path=str(tmp_path / "checkpoints")))



def test_a_hub_id_is_tried_on_the_hub_and_its_error_names_the_option(monkeypatch):
    # Offline (as in these tests) a Hub id absent from the local cache: tried on the Hub, not taken for a missing
    # local folder (an ``org/name`` id holds a slash), and the error names the option and the way out, for
    # pre-training (encoder.path) and for the XTREME tasks (model.encoder).
    from transformers import XLMRobertaForSequenceClassification

    from veco_lightning.tasks.backbone import load_task_encoder

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for name in ("veco-test/no-such-model", "no-such-model"):
        with pytest.raises(FileNotFoundError, match=rf"(?s)encoder.path '{name}' is neither a local directory nor "
                                                    r"loadable from the Hugging Face Hub.*HF_HUB_OFFLINE is set"):
            build_encoder(EncoderSpec(path=name))
        with pytest.raises(FileNotFoundError, match=rf"model.encoder '{name}' is neither a local directory"):
            load_task_encoder(name, XLMRobertaForSequenceClassification, num_labels=3)
    with pytest.raises(FileNotFoundError, match="does not exist .relative to the working directory"):
        build_encoder(EncoderSpec(path="runs/none/hf_model"))  # two slashes: a path


def test_an_encoder_path_under_home(tmp_path, monkeypatch):
    # ``~`` is expanded as in the data paths (a YAML config does not go through a shell).
    from transformers import XLMRobertaForSequenceClassification

    from veco_lightning.tasks.backbone import load_task_encoder

    monkeypatch.setenv("HOME", str(tmp_path))
    VecoPretrainModule(encoder=EncoderSpec(preset="tiny"), vocab_size=50).model.save_pretrained(tmp_path / "enc")
    assert build_encoder(EncoderSpec(path="~/enc")).config.vocab_size == 50
    assert load_task_encoder("~/enc", XLMRobertaForSequenceClassification, num_labels=3).config.num_labels == 3


def test_a_sentence_transformers_folder_with_its_model_in_a_subfolder(bert_dir, tmp_path, caplog):
    # Models saved by sentence-transformers 1 keep the Hugging Face model in 0_Transformer/, named by modules.json:
    # the tokenizer was refused ("holds no tokenizer files: train one with veco-train-tokenizer"), the encoder too.
    import json
    import shutil

    from transformers import XLMRobertaForSequenceClassification

    from veco_lightning.data.tokenizer import load_tokenizer
    from veco_lightning.paths import sentence_head_modules
    from veco_lightning.tasks.backbone import load_task_encoder

    folder = tmp_path / "st-model"
    shutil.copytree(bert_dir, folder / "0_Transformer")
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text('{"pooling_mode_cls_token": true}')
    (folder / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "0_Transformer", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"},
        {"idx": 3, "name": "3", "path": "3_Normalize", "type": "sentence_transformers.models.Normalize"}]))
    with caplog.at_level("INFO", logger="veco_lightning.paths"):
        tokenizer = load_tokenizer(str(folder))
    # LaBSE's layout: the Dense projection is part of its embedding (pooling: sentence_transformers computes it)
    assert caplog.text.count("reading its Transformer module") == 1 and "0_Transformer" in caplog.text
    assert sentence_head_modules(str(folder)) == ["Dense"] and sentence_head_modules(str(bert_dir)) == []
    assert tokenizer("the small dog").input_ids == load_tokenizer(str(bert_dir))("the small dog").input_ids
    evaluated = build_encoder(EncoderSpec(preset=None, path=str(folder)), len(tokenizer), tokenizer.pad_token_id)
    reference = build_encoder(EncoderSpec(preset=None, path=str(bert_dir)), len(tokenizer), tokenizer.pad_token_id)
    weights = {k: v for k, v in reference.state_dict().items() if ".pooler." not in k}  # no pooler in the checkpoint
    assert all(torch.equal(evaluated.state_dict()[k], v) for k, v in weights.items())
    task = load_task_encoder(str(folder), XLMRobertaForSequenceClassification, num_labels=3)
    assert torch.equal(task.bert.embeddings.word_embeddings.weight, reference.roberta.embeddings.word_embeddings.weight)


def test_an_encoder_path_missing_weights_is_refused_and_a_missing_head_is_said(bert_dir, tmp_path, caplog):
    # A fine-tuned task model continued with the MLM objectives: its encoder is kept, its masked-LM head is new (only
    # transformers' loading table said so). A checkpoint without some encoder weights trained or was scored from
    # random values; it is refused, for the pre-training encoder and for the evaluated one (BERT) alike.
    from safetensors.torch import load_file, save_file
    from transformers import XLMRobertaForSequenceClassification

    torch.manual_seed(0)
    base = build_encoder(EncoderSpec(preset="tiny", max_length=64), vocab_size=99, pad_token_id=1)
    task = XLMRobertaForSequenceClassification(base.config)
    task.roberta.load_state_dict(base.roberta.state_dict(), strict=False)
    task.save_pretrained(tmp_path / "task")
    with caplog.at_level("WARNING", logger="veco_lightning.models.encoder"):
        continued = build_encoder(EncoderSpec(preset=None, path=str(tmp_path / "task")), 99, 1)
    assert "has no masked-LM head" in caplog.text
    assert torch.equal(continued.roberta.encoder.layer[0].output.dense.weight,
                       base.roberta.encoder.layer[0].output.dense.weight)
    for source, name in ((tmp_path / "task", "xlm-roberta"), (bert_dir, "bert")):
        partial = tmp_path / f"partial-{name}"
        partial.mkdir()
        (partial / "config.json").write_bytes((source / "config.json").read_bytes())
        weights = load_file(source / "model.safetensors")
        save_file({k: v for k, v in weights.items() if ".layer.1." not in k}, partial / "model.safetensors")
        with pytest.raises(ValueError, match=f"encoder.path .*weight.* of the {name} encoder are not in the "):
            build_encoder(EncoderSpec(preset=None, path=str(partial)), 99, 1)


@pytest.fixture(scope="module")
def mt5_dir(tmp_path_factory):
    """A random tiny mT5 (encoder-decoder, relative positions, no masked-LM class) with the demo tokenizer."""
    from transformers import MT5Config, MT5Model

    from veco_lightning.data.tokenizer import load_tokenizer

    out = tmp_path_factory.mktemp("mt5")
    tokenizer = load_tokenizer("pkg://veco_lightning/resources/demo/tokenizer")
    config = MT5Config(vocab_size=len(tokenizer), d_model=32, d_kv=8, d_ff=64, num_layers=2, num_decoder_layers=2,
                       num_heads=4, pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                       decoder_start_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    MT5Model(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def test_an_encoder_decoder_is_scored_by_its_encoder_and_fine_tuned(mt5_dir):
    # mT5 stopped veco-fit test ("Unrecognized configuration class MT5Config for AutoModelForMaskedLM", then "no
    # attribute max_position_embeddings") and veco-xtreme's QA (its qa_outputs head taken for missing encoder weights)
    from transformers import MT5EncoderModel, XLMRobertaForQuestionAnswering, XLMRobertaForSequenceClassification

    from veco_lightning.models.encoder import UNBOUNDED_LENGTH, EncoderForEvaluation, usable_length
    from veco_lightning.tasks.backbone import load_task_encoder

    evaluated = build_encoder(EncoderSpec(preset=None, path=str(mt5_dir)))
    assert isinstance(evaluated, EncoderForEvaluation) and isinstance(evaluated.roberta, MT5EncoderModel)
    assert usable_length(evaluated.config) == UNBOUNDED_LENGTH
    module = VecoPretrainModule(encoder=EncoderSpec(preset=None, path=str(mt5_dir)), vocab_size=None, pad_token_id=1)
    ids, mask = torch.tensor([[5, 6, 7, 2, 1], [8, 9, 2, 1, 1]]), torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 0, 0]])
    reference = MT5EncoderModel.from_pretrained(mt5_dir).eval()
    with torch.no_grad():
        expected = reference(input_ids=ids, attention_mask=mask).last_hidden_state
        assert torch.allclose(module.eval().encode_layer(ids, mask, -1), expected, atol=1e-6)
    for task_class in (XLMRobertaForQuestionAnswering, XLMRobertaForSequenceClassification):
        task = load_task_encoder(str(mt5_dir), task_class, num_labels=2)
        assert torch.equal(task.shared.weight if hasattr(task, "shared") else task.transformer.shared.weight,
                           reference.shared.weight)


def test_an_encoder_decoder_without_an_encoder_class_is_scored_by_its_encoder(tmp_path):
    from transformers import MBartConfig, MBartModel

    from veco_lightning.models.encoder import EncoderForEvaluation

    config = MBartConfig(vocab_size=60, d_model=32, encoder_layers=2, decoder_layers=1, encoder_attention_heads=4,
                         decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=64,
                         pad_token_id=1)
    torch.manual_seed(0)
    MBartModel(config).save_pretrained(tmp_path / "mbart")
    evaluated = build_encoder(EncoderSpec(preset=None, path=str(tmp_path / "mbart")))
    assert isinstance(evaluated, EncoderForEvaluation) and type(evaluated.roberta).__name__ == "MBartEncoder"
    ids = torch.tensor([[5, 6, 7, 2]])
    with torch.no_grad():
        expected = MBartModel.from_pretrained(tmp_path / "mbart").eval().get_encoder()(input_ids=ids).last_hidden_state
        assert torch.allclose(evaluated.eval().roberta(input_ids=ids).last_hidden_state, expected, atol=1e-6)


def test_a_task_head_at_the_top_level_starts_anew_alone_and_a_missing_head_class_is_named(mt5_dir, tmp_path):
    from transformers import AutoModelForQuestionAnswering, MBartConfig, MBartModel, XLMRobertaForTokenClassification

    from veco_lightning.tasks.backbone import load_task_encoder, reset_task_head

    model = AutoModelForQuestionAnswering.from_pretrained(mt5_dir)  # shared, encoder, decoder, qa_outputs: one level
    assert model.base_model is model
    before = {k: v.clone() for k, v in model.state_dict().items()}
    reset_task_head(model, AutoModelForQuestionAnswering)  # a fine-tuned model used for another task's labels
    after = model.state_dict()
    trunk = [k for k in before if not k.startswith("qa_outputs.")]
    assert all(torch.equal(before[k], after[k]) for k in trunk)  # the encoder (and decoder) kept
    assert not all(torch.equal(before[k], after[k]) for k in before if k.startswith("qa_outputs."))
    config = MBartConfig(vocab_size=60, d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=4,
                         decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=64)
    MBartModel(config).save_pretrained(tmp_path / "mbart")
    with pytest.raises(ValueError, match="transformers has no mbart class with a TokenClassification head"):
        load_task_encoder(str(tmp_path / "mbart"), XLMRobertaForTokenClassification, num_labels=3)
