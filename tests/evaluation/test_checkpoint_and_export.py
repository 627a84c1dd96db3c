"""One evaluation command for checkpoints and exports: the same weights score the same numbers either way, the
command line's evaluation options are kept, and sentence-transformers' own ``TranslationEvaluator`` on the export
agrees with the project's Tatoeba retrieval."""

import json
import os

import pytest

from veco_lightning.cli import run_cli

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "data")
TATOEBA = os.path.join(SHARED, "tatoeba")
DEMO_TOKENIZER = "pkg://veco_lightning/resources/demo/tokenizer"
LANGUAGES = ("deu", "fra")

pytestmark = pytest.mark.skipif(not os.path.isdir(TATOEBA), reason="needs ../shared/data/tatoeba")


@pytest.fixture(scope="module")
def trained(corpus_dir, tmp_path_factory):
    """A few steps of the tiny run with the demo tokenizer (it covers German and French): a checkpoint and its
    export, with mean pooling of layer 1 of 2 recorded as the run's evaluation choice."""
    root = tmp_path_factory.mktemp("run")
    files = "{" + ", ".join(f"{lang}: {corpus_dir / f'{lang}.txt'}" for lang in ("en", "ru", "zh")) + "}"
    cli = run_cli([
        "--config", os.path.join(ROOT, "tests", "conf", "tiny.yaml"),
        f"--data.tokenizer={DEMO_TOKENIZER}",
        f"--data.monolingual.files={files}",
        f"--data.monolingual.cache_dir={root / 'cache'}",
        f"--trainer.default_root_dir={root / 'run'}",
        "--model.encoder.max_length=32", "--data.monolingual.max_length=32",
        "--model.evaluation.layer=1",
        f"--export.dirpath={root / 'hf'}",
    ])
    return cli.trainer.checkpoint_callback.last_model_path or cli.trainer.checkpoint_callback.best_model_path, \
        str(root / "hf")


def _evaluate(encoder: str, report_dir, extra: tuple[str, ...] = ()) -> dict:
    languages = "[" + ", ".join(LANGUAGES) + "]"
    cli = run_cli([
        "test", "--config", os.path.join(ROOT, "configs", "eval", "tatoeba.yaml"),
        f"--model.encoder.path={encoder}", f"--data.tokenizer={encoder}",
        f"--data.evaluation.tatoeba.root={TATOEBA}", f"--data.evaluation.tatoeba.languages={languages}",
        "--data.evaluation.dictionaries={en-de: [" + os.path.join(SHARED, "dictionaries", "en-de.tsv") + "]}",
        "--data.evaluation.max_length=32", f"--model.evaluation.report_dir={report_dir}", *extra,
    ])
    assert cli.model.scorer.options.report_dir == str(report_dir)
    with open(os.path.join(report_dir, "results.json"), encoding="utf-8") as handle:
        return json.load(handle)


def test_checkpoint_and_export_score_identically(trained, tmp_path):
    checkpoint, export = trained
    assert checkpoint.endswith(".ckpt")
    from_checkpoint = _evaluate(checkpoint, tmp_path / "ckpt")
    from_export = _evaluate(export, tmp_path / "export")
    assert from_checkpoint["results"] == from_export["results"]
    retrieval = from_export["results"]["retrieval"]
    assert set(retrieval) == {f"{lang}-eng" for lang in LANGUAGES} | {"average"}  # no set of the training run
    assert "synonym" in from_export["results"]
    model = from_checkpoint["metadata"]["model"]
    assert (model["weights_from"], model["path"], model["checkpoint_step"]) == ("checkpoint", checkpoint, 4)
    assert from_export["metadata"]["model"]["weights_from"] == "export directory"


def test_command_line_evaluation_options_survive_ckpt_path(trained, tmp_path):
    """``test --ckpt_path``: the model's arguments come from the checkpoint, ``model.evaluation`` from the command."""
    checkpoint, _ = trained
    report = tmp_path / "report"
    languages = "[" + ", ".join(LANGUAGES) + "]"
    cli = run_cli([
        "test", "--config", os.path.join(ROOT, "configs", "eval", "tatoeba.yaml"),
        f"--data.tokenizer={checkpoint}", "--model.encoder.path=null", "--model.encoder.preset=tiny",
        f"--data.evaluation.tatoeba.root={TATOEBA}", f"--data.evaluation.tatoeba.languages={languages}",
        "--data.evaluation.dictionaries={}", "--data.evaluation.max_length=32",
        f"--model.evaluation.report_dir={report}", "--model.evaluation.pooling=cls", "--model.evaluation.layer=0",
        f"--ckpt_path={checkpoint}",
    ])
    options = cli.model.scorer.options
    assert (options.report_dir, options.pooling, options.layer) == (str(report), "cls", 0)
    assert os.path.isfile(report / "results.json")


def test_sentence_transformers_translation_evaluator_agrees(trained, tmp_path):
    """sentence-transformers' TranslationEvaluator, run on the export through its sentence-transformers
    configuration (mean pooling of layer 1), gives the project's Tatoeba accuracies."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.evaluation import TranslationEvaluator

    _, export = trained
    ours = _evaluate(export, tmp_path / "ours", ("--model.evaluation.layer=1",))["results"]["retrieval"]
    model = SentenceTransformer(export, device="cpu")
    assert model.max_seq_length == 32
    for lang in LANGUAGES:
        stem = os.path.join(TATOEBA, f"tatoeba.{lang}-eng")
        with open(f"{stem}.{lang}", encoding="utf-8") as src, open(f"{stem}.eng", encoding="utf-8") as tgt:
            source = [line.rstrip("\n") for line in src]
            target = [line.rstrip("\n") for line in tgt]
        evaluator = TranslationEvaluator(source, target, batch_size=64, name=lang)
        scores = evaluator(model, output_path=str(tmp_path))
        theirs = {"src2tgt": scores[f"{lang}_src2trg_accuracy"], "tgt2src": scores[f"{lang}_trg2src_accuracy"]}
        mine = ours[f"{lang}-eng"]
        for direction, value in theirs.items():
            # one sentence of 1000 may differ where two candidates tie to float rounding
            assert abs(value - mine[direction]) <= 0.001 + 1e-9, (lang, direction, value, mine)


def _with_dense_head(export: str, folder) -> str:
    """A copy of the export whose sentence-transformers embedding also goes through a ``Dense`` projection (tanh, as
    LaBSE's) and ``Normalize``, written by sentence-transformers itself."""
    import shutil

    import torch
    from sentence_transformers import models

    shutil.copytree(export, folder)
    torch.manual_seed(0)
    for name in ("2_Dense", "3_Normalize"):
        (folder / name).mkdir()
    models.Dense(64, 24, activation_function=torch.nn.Tanh()).save(str(folder / "2_Dense"))
    models.Normalize().save(str(folder / "3_Normalize"))
    with open(folder / "modules.json", encoding="utf-8") as handle:
        modules = json.load(handle)
    modules += [{"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"},
                {"idx": 3, "name": "3", "path": "3_Normalize", "type": "sentence_transformers.models.Normalize"}]
    (folder / "modules.json").write_text(json.dumps(modules))
    return str(folder)


def test_a_sentence_transformers_model_scored_with_its_own_embedding(trained, tmp_path):
    """``pooling: sentence_transformers`` scores the embedding ``SentenceTransformer(folder).encode`` gives: its
    pooling, ``Dense`` and ``Normalize`` modules, of the layer its Transformer module reads (the export's layer 1 of
    2): sentence-transformers' ``TranslationEvaluator`` gives the same accuracies."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.evaluation import TranslationEvaluator

    _, export = trained
    folder = _with_dense_head(export, tmp_path / "st")
    report = _evaluate(folder, tmp_path / "ours", ("--model.evaluation.pooling=sentence_transformers",))
    assert report["metadata"]["evaluation"]["layer"] == 1  # the model's own layer, not the default -1
    ours = report["results"]["retrieval"]
    plain = _evaluate(folder, tmp_path / "plain", ("--model.evaluation.layer=1",))["results"]["retrieval"]
    assert ours != plain  # the projection changes what is retrieved
    model = SentenceTransformer(folder, device="cpu")
    for lang in LANGUAGES:
        stem = os.path.join(TATOEBA, f"tatoeba.{lang}-eng")
        with open(f"{stem}.{lang}", encoding="utf-8") as src, open(f"{stem}.eng", encoding="utf-8") as tgt:
            source, target = [line.rstrip("\n") for line in src], [line.rstrip("\n") for line in tgt]
        scores = TranslationEvaluator(source, target, batch_size=64, name=lang)(model, output_path=str(tmp_path))
        mine = ours[f"{lang}-eng"]
        assert abs(scores[f"{lang}_src2trg_accuracy"] - mine["src2tgt"]) <= 0.001 + 1e-9, (lang, scores, mine)
        assert abs(scores[f"{lang}_trg2src_accuracy"] - mine["tgt2src"]) <= 0.001 + 1e-9, (lang, scores, mine)


def test_sentence_transformers_pooling_needs_such_a_model(trained, tmp_path):
    checkpoint, _ = trained
    with pytest.raises(ValueError, match="sentence head of a sentence-transformers model"):
        _evaluate(checkpoint, tmp_path / "ckpt", ("--model.evaluation.pooling=sentence_transformers",))


def test_a_prompt_gives_the_embedding_of_a_prompted_model(trained, tmp_path):
    """``data.evaluation.prompt``: a model whose ``encode`` puts ``"query: "`` before every input by default (and
    pools without it, ``include_prompt: false``) is embedded by ``veco-fit predict`` as ``encode`` embeds it."""
    import glob

    import torch
    from sentence_transformers import SentenceTransformer

    _, export = trained
    folder = _with_dense_head(export, tmp_path / "st")
    with open(os.path.join(folder, "config_sentence_transformers.json"), "w", encoding="utf-8") as handle:
        json.dump({"prompts": {"query": "query: "}, "default_prompt_name": "query"}, handle)
    pooling = os.path.join(folder, "1_Pooling", "config.json")
    with open(pooling, encoding="utf-8") as handle:
        settings = json.load(handle)
    with open(pooling, "w", encoding="utf-8") as handle:
        json.dump({**settings, "include_prompt": False}, handle)
    run_cli([
        "predict", "--config", os.path.join(ROOT, "configs", "eval", "tatoeba.yaml"),
        f"--model.encoder.path={folder}", f"--data.tokenizer={folder}", f"--data.evaluation.tatoeba.root={TATOEBA}",
        "--data.evaluation.tatoeba.languages=[deu]", "--data.evaluation.dictionaries={}",
        "--data.evaluation.max_length=32", "--model.evaluation.pooling=sentence_transformers",
        "--data.evaluation.prompt=query: ", f"--trainer.default_root_dir={tmp_path / 'run'}",
        f"--model.evaluation.report_dir={tmp_path / 'eval'}",
    ])
    (path,) = glob.glob(str(tmp_path / "run" / "**" / "deu-eng.pt"), recursive=True)
    ours = torch.load(path, weights_only=True)
    model = SentenceTransformer(folder, device="cpu")
    stem = os.path.join(TATOEBA, "tatoeba.deu-eng")
    for side, suffix in (("src", "deu"), ("tgt", "eng")):
        with open(f"{stem}.{suffix}", encoding="utf-8") as handle:
            sentences = [line.rstrip("\n") for line in handle]
        theirs = model.encode(sentences, convert_to_tensor=True, batch_size=64)  # its default prompt
        assert torch.allclose(ours[side], theirs, atol=1e-5), (ours[side] - theirs).abs().max()
        assert not torch.allclose(ours[side], model.encode(sentences, convert_to_tensor=True, prompt=""), atol=1e-3)
    # veco-fit test scores it as sentence-transformers' TranslationEvaluator does (encode: the default prompt)
    from sentence_transformers.evaluation import TranslationEvaluator

    report = _evaluate(folder, tmp_path / "test", ("--model.evaluation.pooling=sentence_transformers",
                                                   "--data.evaluation.prompt=query: "))
    assert report["metadata"]["data"]["prompt"] == "query: "
    with open(f"{stem}.deu", encoding="utf-8") as src, open(f"{stem}.eng", encoding="utf-8") as tgt:
        source, target = [line.rstrip("\n") for line in src], [line.rstrip("\n") for line in tgt]
    scores = TranslationEvaluator(source, target, batch_size=64, name="deu")(model, output_path=str(tmp_path))
    mine = report["results"]["retrieval"]["deu-eng"]
    assert abs(scores["deu_src2trg_accuracy"] - mine["src2tgt"]) <= 0.001 + 1e-9, (scores, mine)
    assert abs(scores["deu_trg2src_accuracy"] - mine["tgt2src"]) <= 0.001 + 1e-9, (scores, mine)
