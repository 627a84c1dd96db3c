"""A sentence-transformers model's own sentence head (pooling, Dense, Normalize) over the package's token states:
the embedding ``SentenceTransformer.encode`` gives, for each pooling mode and both configuration layouts, and
nothing imported or unpickled from the folder's files."""

import json
import shutil

import pytest
import torch

from veco_lightning.models.sentence_head import load_sentence_head, pool_tokens

SENTENCES = ["the small dog sleeps", "a cat", "the dog and the cat and the small dog sleep"]


def _st_model(bert_dir, folder, modes, *, dense_to: int = 12):
    from sentence_transformers import SentenceTransformer, models

    transformer = models.Transformer(str(bert_dir), max_seq_length=32)
    dim = transformer.get_embedding_dimension()
    pooling = models.Pooling(dim, pooling_mode=modes if len(modes) > 1 else modes[0])
    torch.manual_seed(0)
    layers = [transformer, pooling,
              models.Dense(pooling.get_embedding_dimension(), dense_to, activation_function=torch.nn.Tanh()),
              models.Dense(dense_to, 8, activation_function=torch.nn.GELU(), use_residual=True), models.Normalize()]
    model = SentenceTransformer(modules=layers, device="cpu")
    model.save(str(folder))
    return model


def _ours(folder, bert_dir, sentences=SENTENCES):
    from transformers import AutoModel, AutoTokenizer

    tokenizer, encoder = AutoTokenizer.from_pretrained(str(bert_dir)), AutoModel.from_pretrained(str(folder)).eval()
    batch = tokenizer(sentences, padding=True, truncation=True, max_length=32, return_tensors="pt")
    batch.pop("token_type_ids", None)
    with torch.no_grad():
        hidden = encoder(**batch).last_hidden_state
        return load_sentence_head(str(folder))(hidden, batch["attention_mask"])


@pytest.mark.parametrize("modes", [("cls",), ("mean",), ("max",), ("mean_sqrt_len_tokens",), ("weightedmean",),
                                   ("lasttoken",), ("cls", "max", "mean")])
def test_the_head_gives_sentence_transformers_embedding(bert_dir, tmp_path, modes):
    model = _st_model(bert_dir, tmp_path / "st", modes)
    theirs = model.encode(SENTENCES, convert_to_tensor=True)
    assert torch.allclose(_ours(tmp_path / "st", bert_dir), theirs, atol=1e-6)


def test_pooling_matches_sentence_transformers_with_left_padding():
    from sentence_transformers import models

    torch.manual_seed(0)
    hidden = torch.randn(3, 6, 4)
    mask = torch.tensor([[0, 0, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0, 1]])
    for mode in ("cls", "max", "mean", "mean_sqrt_len_tokens", "weightedmean", "lasttoken"):
        theirs = models.Pooling(4, pooling_mode=mode)({"token_embeddings": hidden, "attention_mask": mask})
        assert torch.allclose(pool_tokens(hidden, mask, (mode,)), theirs["sentence_embedding"], atol=1e-6), mode


def test_the_layout_of_sentence_transformers_1(bert_dir, tmp_path):
    """LaBSE as sentence-transformers 1 saved it: the model in ``0_Transformer/``, legacy pooling flags, ``Dense``
    weights in ``pytorch_model.bin``, types named ``sentence_transformers.models.*``."""
    model = _st_model(bert_dir, tmp_path / "new", ("cls",))
    theirs = model.encode(SENTENCES, convert_to_tensor=True)
    old = tmp_path / "old"
    shutil.copytree(tmp_path / "new", old / "0_Transformer", ignore=shutil.ignore_patterns("[1-9]_*", "modules.json"))
    shutil.copytree(tmp_path / "new" / "1_Pooling", old / "1_Pooling")
    (old / "1_Pooling" / "config.json").write_text(json.dumps(
        {"word_embedding_dimension": 32, "pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False,
         "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False}))
    modules = [{"idx": 0, "name": "0", "path": "0_Transformer", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
    for index, name in ((2, "2_Dense"), (3, "3_Dense")):
        from safetensors.torch import load_file

        shutil.copytree(tmp_path / "new" / name, old / name, ignore=shutil.ignore_patterns("*.safetensors"))
        torch.save(load_file(str(tmp_path / "new" / name / "model.safetensors")), old / name / "pytorch_model.bin")
        modules.append({"idx": index, "name": str(index), "path": name, "type": "sentence_transformers.models.Dense"})
    modules.append({"idx": 4, "name": "4", "path": "4_Normalize", "type": "sentence_transformers.models.Normalize"})
    (old / "modules.json").write_text(json.dumps(modules))
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(bert_dir))
    batch = tokenizer(SENTENCES, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = AutoModel.from_pretrained(str(old / "0_Transformer")).eval()(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    assert torch.allclose(load_sentence_head(str(old))(hidden, batch["attention_mask"]), theirs, atol=1e-6)


def test_files_choose_no_code_and_unknown_modules_are_named(bert_dir, tmp_path):
    _st_model(bert_dir, tmp_path / "st", ("mean",))
    config = tmp_path / "st" / "2_Dense" / "config.json"
    settings = json.loads(config.read_text())
    settings["activation_function"] = "os.system"
    config.write_text(json.dumps(settings))
    with pytest.raises(ValueError, match="'os.system' is not a torch.nn module"):
        load_sentence_head(str(tmp_path / "st"))
    settings["activation_function"] = "torch.nn.modules.activation.Tanh"
    settings["module_input_name"] = "token_embeddings"
    config.write_text(json.dumps(settings))
    with pytest.raises(ValueError, match="maps 'token_embeddings'"):
        load_sentence_head(str(tmp_path / "st"))
    listing = tmp_path / "st" / "modules.json"
    modules = json.loads(listing.read_text())
    modules[2]["type"] = "sentence_transformers.models.LSTM"
    listing.write_text(json.dumps(modules))
    with pytest.raises(ValueError, match="not LSTM there"):
        load_sentence_head(str(tmp_path / "st"))
    with pytest.raises(ValueError, match="no sentence-transformers model"):
        load_sentence_head(str(bert_dir))


def test_the_module_loads_the_head_for_scoring_only_and_names_a_head_it_leaves_out(bert_dir, tmp_path, caplog):
    from veco_lightning.evaluation.scorer import EvaluationOptions
    from veco_lightning.models.encoder import EncoderSpec
    from veco_lightning.module import VecoPretrainModule

    _st_model(bert_dir, tmp_path / "st", ("cls",))

    def module(pooling):
        return VecoPretrainModule(encoder=EncoderSpec(preset=None, path=str(tmp_path / "st")), vocab_size=None,
                                  pad_token_id=0, evaluation=EvaluationOptions(pooling=pooling))

    scored = module("sentence_transformers")
    scored._prepare_sentence_pooling("test")
    hidden, mask = torch.randn(2, 5, 32), torch.ones(2, 5, dtype=torch.long)
    vectors = scored.scorer.pool(hidden, mask)
    assert vectors.shape == (2, 8)  # through both Dense layers
    with torch.autocast("cpu", dtype=torch.bfloat16):  # bf16-mixed: the head still computes in float32
        mixed = scored.scorer.pool(hidden.bfloat16(), mask)
    assert mixed.dtype == torch.float32
    assert torch.equal(mixed, scored.scorer.pool(hidden.bfloat16().float(), mask))
    # the model reads 32 tokens at most: evaluation data of 64 would embed longer sentences otherwise
    from types import SimpleNamespace

    from veco_lightning.evaluation.datamodule import EvaluationDataModule

    data = EvaluationDataModule.__new__(EvaluationDataModule)
    data.max_length, data.prompt = 64, None
    long = module("sentence_transformers")
    long._trainer = SimpleNamespace(datamodule=SimpleNamespace(members=[data]))
    with caplog.at_level("WARNING"):
        long._prepare_sentence_pooling("test")
    assert "reads at most 32 tokens (max_seq_length), data.evaluation.max_length is 64" in caplog.text
    caplog.clear()
    with pytest.raises(ValueError, match="in fit the encoder trains but that model's Dense layers would not"):
        module("sentence_transformers")._prepare_sentence_pooling("fit")
    with caplog.at_level("WARNING"):
        plain = module("cls")
        plain._prepare_sentence_pooling("test")
    assert "embedding also goes through Dense, Dense" in caplog.text and "pooling: sentence_transformers" in caplog.text
    assert torch.equal(plain.scorer.pool(hidden, mask), hidden[:, 0])


def test_pooling_without_the_prompt_matches_sentence_transformers():
    """A ``Pooling`` with ``include_prompt: false`` leaves the prompt's tokens out, padding right or left."""
    from sentence_transformers import models

    torch.manual_seed(0)
    hidden = torch.randn(3, 7, 4)
    for mask in (torch.tensor([[1, 1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0, 0]]),
                 torch.tensor([[0, 0, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1], [0, 0, 0, 1, 1, 1, 1]])):
        for mode in ("cls", "max", "mean", "mean_sqrt_len_tokens", "weightedmean", "lasttoken"):
            pooling = models.Pooling(4, pooling_mode=mode, include_prompt=False)
            theirs = pooling({"token_embeddings": hidden, "attention_mask": mask, "prompt_length": 3})
            ours = pool_tokens(hidden, mask, (mode,), prompt_length=3)
            assert torch.allclose(ours, theirs["sentence_embedding"], atol=1e-6), (mode, mask)
            assert not torch.allclose(ours, pool_tokens(hidden, mask, (mode,))) or mode == "lasttoken"


def test_the_model_s_prompts_are_checked_against_the_evaluation_prompt(bert_dir, tmp_path, caplog):
    """A default prompt the evaluation data does not give is named with the option that gives it; a model that pools
    without its prompt leaves out as many tokens as sentence-transformers counts."""
    from types import SimpleNamespace

    from sentence_transformers import SentenceTransformer
    from transformers import AutoTokenizer

    from veco_lightning.evaluation.datamodule import EvaluationDataModule
    from veco_lightning.evaluation.scorer import EvaluationOptions
    from veco_lightning.models.encoder import EncoderSpec
    from veco_lightning.module import VecoPretrainModule

    folder = tmp_path / "st"
    _st_model(bert_dir, folder, ("mean",))
    (folder / "config_sentence_transformers.json").write_text(json.dumps(
        {"prompts": {"query": "query: ", "passage": "passage: "}, "default_prompt_name": "query"}))
    settings = json.loads((folder / "1_Pooling" / "config.json").read_text())
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({**settings, "include_prompt": False}))
    head = load_sentence_head(str(folder))
    assert (head.default_prompt, head.include_prompt) == ("query: ", False)

    def scored(prompt):
        data = EvaluationDataModule.__new__(EvaluationDataModule)
        data.max_length, data.prompt, data._tokenizer = 32, prompt, AutoTokenizer.from_pretrained(str(folder))
        module = VecoPretrainModule(encoder=EncoderSpec(preset=None, path=str(folder)), vocab_size=None,
                                    pad_token_id=0, evaluation=EvaluationOptions(pooling="sentence_transformers"))
        module._trainer = SimpleNamespace(datamodule=SimpleNamespace(members=[data]))
        module._prepare_sentence_pooling("test")
        return module.scorer.__dict__["_sentence_head"]

    with caplog.at_level("WARNING"):
        assert scored(None).prompt_length == 0
    assert "puts the prompt 'query: ' ('query') before every input by default" in caplog.text
    assert "--data.evaluation.prompt='query: '" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING"):
        head = scored("passage: ")
    assert "by default" not in caplog.text  # a prompt chosen is the user's
    transformer = SentenceTransformer(str(folder), device="cpu")[0]
    assert head.prompt_length == transformer._get_prompt_length("passage: ") > 1
    (folder / "config_sentence_transformers.json").write_text(json.dumps({"prompts": {}, "default_prompt_name": "x"}))
    with pytest.raises(ValueError, match="default_prompt_name 'x' is not one of its prompts"):
        load_sentence_head(str(folder))
