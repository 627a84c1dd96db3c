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
