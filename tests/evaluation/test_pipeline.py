"""`veco-fit test` on aligned pairs: Tatoeba layout, pair files with gold alignments, dictionaries, BUCC tasks."""

import json

import torch
from conftest import sentences
from transformers import AutoModel, AutoTokenizer

from veco_lightning.cli import run_cli
from veco_lightning.evaluation.bitext_mining import make_bucc_task
from veco_lightning.models.encoder import EncoderSpec, build_encoder


def _export_random_encoder(tokenizer_dir, path, max_length=32):
    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    model = build_encoder(EncoderSpec(preset="tiny", max_length=max_length), vocab_size=len(tokenizer))
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def _write_tatoeba(root):
    root.mkdir()
    for code, lang in (("rus", "ru"), ("cmn", "zh")):
        (root / f"tatoeba.{code}-eng.{code}").write_text("\n".join(sentences(lang)) + "\n", encoding="utf-8")
        (root / f"tatoeba.{code}-eng.eng").write_text("\n".join(sentences("en")) + "\n", encoding="utf-8")


def _obvious_tatoeba_accuracy(model_dir, src_lines, tgt_lines):
    """Independent re-implementation: one sentence at a time, mean over all tokens, cosine by hand."""
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()

    def embed(text):
        ids = tokenizer(text, truncation=True, max_length=32, return_tensors="pt")
        with torch.no_grad():
            return model(**ids).last_hidden_state[0].mean(dim=0)

    src = [embed(t) for t in src_lines]
    tgt = [embed(t) for t in tgt_lines]

    def cos(a, b):
        return float(a @ b) / (float(a.norm()) * float(b.norm()))

    def accuracy(queries, keys):
        hits = 0
        for i, q in enumerate(queries):
            scores = [cos(q, k) for k in keys]
            hits += max(range(len(scores)), key=lambda j: (scores[j], -j)) == i
        return hits / len(queries)

    return accuracy(src, tgt), accuracy(tgt, src)


def test_tatoeba_matches_obvious_implementation_and_writes_report(tokenizer_dir, tmp_path):
    model_dir = _export_random_encoder(tokenizer_dir, tmp_path / "model")
    _write_tatoeba(tmp_path / "tatoeba")
    report = tmp_path / "report"
    run_cli([
        "test", "--config", "tests/conf/eval.yaml",
        f"--model.encoder.path={model_dir}", f"--data.tokenizer={model_dir}",
        f"--data.evaluation.tatoeba={{root: {tmp_path / 'tatoeba'}, languages: [rus, cmn]}}",
        f"--model.evaluation.report_dir={report}", "--model.evaluation.heatmap_set=rus-eng",
    ])
    results = json.loads((report / "results.json").read_text())["results"]["retrieval"]
    for code, lang in (("rus", "ru"), ("cmn", "zh")):
        expected = _obvious_tatoeba_accuracy(model_dir, sentences(lang), sentences("en"))
        assert (results[f"{code}-eng"]["src2tgt"], results[f"{code}-eng"]["tgt2src"]) == expected
    assert results["average"]["src2tgt"] == (results["rus-eng"]["src2tgt"] + results["cmn-eng"]["src2tgt"]) / 2
    assert "| rus-eng |" in (report / "results.md").read_text()
    assert (report / "retrieval_accuracy.png").stat().st_size > 1000
    assert (report / "word_similarity_rus-eng_0.png").stat().st_size > 1000


def test_identical_pairs_give_perfect_scores(tokenizer_dir, tmp_path):
    """Same sentence on both sides: retrieval, synonym retrieval, alignment and mining must all be perfect."""
    lines = sentences("en")
    (tmp_path / "en.txt").write_text("\n".join(lines) + "\n")
    gold = [" ".join(f"{i}-{i}" for i in range(len(line.split()))) for line in lines]
    (tmp_path / "gold.txt").write_text("\n".join(gold) + "\n")
    (tmp_path / "dict.tsv").write_text("dog\tdog\nteacher\tteacher\nriver\triver\nhouse\thouse\n")
    src = tmp_path / "en.txt"

    def evaluate(name, max_length, *data):
        model_dir = _export_random_encoder(tokenizer_dir, tmp_path / name / "model", max_length=max_length)
        report = tmp_path / name / "report"
        run_cli(["test", "--config", "tests/conf/eval.yaml", f"--model.encoder.path={model_dir}",
                 f"--data.tokenizer={model_dir}", f"--data.evaluation.max_length={max_length}",
                 "--data.evaluation.extra_languages=[xx]", *data,  # a made-up language code, declared
                 f"--model.evaluation.report_dir={report}"])
        return json.loads((report / "results.json").read_text())["results"]

    # Long enough that no sentence is cut: a word lost to truncation is a missed gold link.
    results = evaluate("pairs", 64,
                       f"--data.evaluation.pairs={{same: {{src_lang: xx, tgt_lang: en, src: {src}, tgt: {src}, "
                       f"alignments: {tmp_path / 'gold.txt'}}}}}",
                       f"--data.evaluation.dictionaries={{xx-en: [{tmp_path / 'dict.tsv'}]}}")
    assert results["retrieval"]["same"]["src2tgt"] == 1.0
    assert results["alignment"]["same"]["aer"] == 0.0
    assert results["synonym"]["same"]["src2tgt"] == 1.0 and results["synonym"]["same"]["word_pairs"] > 10
    make_bucc_task(lines, lines, str(tmp_path / "bucc"), pair="xx-en", n_gold=20, n_distractors=20, seed=0)
    mining = evaluate("bucc", 32, f"--data.evaluation.bucc={{root: {tmp_path / 'bucc'}, pairs: [xx-en]}}")
    mining = mining["mining"]["bucc-xx-en"]
    # The threshold is tuned on dev; ratio margins of exact duplicates still vary with neighbourhood density, so
    # only dev F1 and test precision are guaranteed perfect.
    assert mining["dev_f1"] == 1.0 and mining["precision"] == 1.0 and mining["f1"] > 0.5


def test_bare_evaluation_datamodule_names_sets_and_draws_heatmap(tokenizer_dir, tmp_path):
    """An EvaluationDataModule used alone with a plain Trainer: reports name the sets, and the heatmap is drawn."""
    from lightning import Trainer

    from veco_lightning import EvaluationDataModule, EvaluationOptions, VecoPretrainModule
    from veco_lightning.evaluation.sources import PairSource

    model_dir = _export_random_encoder(tokenizer_dir, tmp_path / "model")
    for lang in ("ru", "en"):
        (tmp_path / f"{lang}.txt").write_text("\n".join(sentences(lang)) + "\n", encoding="utf-8")
    data = EvaluationDataModule(pairs={"ru-en": PairSource(src=str(tmp_path / "ru.txt"), tgt=str(tmp_path / "en.txt"))},
                                tokenizer=str(model_dir), max_length=32)
    report = tmp_path / "report"
    module = VecoPretrainModule(encoder=EncoderSpec(preset=None, path=str(model_dir)),
                                evaluation=EvaluationOptions(report_dir=str(report), heatmap_set="ru-en"))
    trainer = Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.test(module, datamodule=data)
    results = json.loads((report / "results.json").read_text())["results"]
    assert "ru-en" in results["retrieval"] and "test/retrieval/ru-en/src2tgt" in trainer.callback_metrics
    assert list(report.glob("word_similarity_ru-en_*.png"))
