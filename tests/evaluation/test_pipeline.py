"""`veco-fit test` on aligned pairs: Tatoeba layout, pair files with gold alignments, dictionaries, BUCC tasks."""

import json

import pytest
import torch
from conftest import sentences
from transformers import AutoModel, AutoTokenizer

from veco_lightning.cli import run_cli
from veco_lightning.evaluation.bitext_mining import make_bucc_task
from veco_lightning.models.encoder import EncoderSpec, build_encoder
from veco_lightning.tasks.scorer import score_folders


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


def _obvious_tatoeba_accuracy(model_dir, src_lines, tgt_lines, answers=None):
    """Independent re-implementation: one sentence at a time, mean over all tokens, cosine by hand. ``answers``, a
    list, receives the target index each source sentence retrieves."""
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

    def accuracy(queries, keys, found):
        hits = 0
        for i, q in enumerate(queries):
            scores = [cos(q, k) for k in keys]
            found.append(max(range(len(scores)), key=lambda j: (scores[j], -j)))
            hits += found[-1] == i
        return hits / len(queries)

    return accuracy(src, tgt, [] if answers is None else answers), accuracy(tgt, src, [])


def test_tatoeba_matches_obvious_implementation_and_writes_report(tokenizer_dir, tmp_path):
    model_dir = _export_random_encoder(tokenizer_dir, tmp_path / "model")
    _write_tatoeba(tmp_path / "tatoeba")
    report = tmp_path / "report"
    run_cli([
        "test", "--config", "tests/conf/eval.yaml",
        f"--model.encoder.path={model_dir}", f"--data.tokenizer={model_dir}",
        f"--data.evaluation.tatoeba={tmp_path / 'tatoeba'}",  # a folder alone: every language in it (rus, cmn)
        f"--model.evaluation.report_dir={report}", "--model.evaluation.heatmap_set=rus-eng",
    ])
    results = json.loads((report / "results.json").read_text())["results"]["retrieval"]
    submission = score_folders(str(report / "xtreme" / "predictions"), str(report / "xtreme" / "labels"),
                               allow_missing=True)["tasks"]["tatoeba"]
    for code, lang in (("rus", "ru"), ("cmn", "zh")):
        answers = []
        expected = _obvious_tatoeba_accuracy(model_dir, sentences(lang), sentences("en"), answers)
        assert (results[f"{code}-eng"]["src2tgt"], results[f"{code}-eng"]["tgt2src"]) == expected
        # XTREME's submission: the English line each sentence retrieves and the gold, its own line, both as lines of
        # the English file XTREME's preprocessing writes (sorted by text, stably); scored as XTREME does
        english = sorted(range(len(sentences("en"))), key=lambda k: sentences("en")[k].strip())
        predicted = (report / "xtreme" / "predictions" / "tatoeba" / f"test-{lang}.tsv").read_text().split()
        assert [english[int(j)] for j in predicted] == answers
        gold = (report / "xtreme" / "labels" / "tatoeba" / f"test-{lang}.tsv").read_text().split()
        assert [english[int(j)] for j in gold] == list(range(len(answers)))
        assert english != list(range(len(english)))  # the fixture's English is not sorted already
        assert submission["metrics"]["accuracy"][lang] == pytest.approx(100 * expected[0])
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
    # The same set as the word-alignment benchmarks ship it: fast_align's 'src ||| tgt' lines and a .talp gold that
    # counts from 1 and marks possible links 'ipj' (here each sentence's last link)
    (tmp_path / "en-en.src-tgt").write_text("".join(f"{line} ||| {line}\n" for line in lines))
    talp = [" ".join([*(f"{i}-{i}" for i in range(1, len(line.split()))), f"{len(line.split())}p{len(line.split())}"])
            for line in lines]
    (tmp_path / "gold.talp").write_text("\n".join(talp) + "\n")

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
                       f"alignments: {tmp_path / 'gold.txt'}}}, talp: {{src_lang: xx, tgt_lang: en, "
                       f"path: {tmp_path / 'en-en.src-tgt'}, alignments: {tmp_path / 'gold.talp'}, "
                       "alignments_one_based: true}}",
                       f"--data.evaluation.dictionaries={{xx-en: [{tmp_path / 'dict.tsv'}]}}")
    assert results["retrieval"]["same"]["src2tgt"] == 1.0
    assert results["alignment"]["same"]["aer"] == 0.0
    assert results["alignment"]["talp"]["aer"] == 0.0  # every predicted link sure or possible, every sure one found
    assert results["synonym"]["same"]["src2tgt"] == 1.0 and results["synonym"]["same"]["word_pairs"] > 10
    # the same English on both sides, named de-en: XTREME scores bucc2018 in de, fr, ru and zh
    make_bucc_task(lines, lines, str(tmp_path / "bucc"), pair="de-en", n_gold=20, n_distractors=20, seed=0)
    mining = evaluate("bucc", 32, f"--data.evaluation.bucc={{root: {tmp_path / 'bucc'}, pairs: [de-en]}}")
    mining = mining["mining"]["bucc-de-en"]
    # The threshold is tuned on dev; ratio margins of exact duplicates still vary with neighbourhood density, so
    # only dev F1 and test precision are guaranteed perfect.
    assert mining["dev_f1"] == 1.0 and mining["precision"] == 1.0 and mining["f1"] > 0.5
    # XTREME's bucc2018 submission: the test split's pairs at the dev threshold, and its gold; scored alike
    scored = score_folders(str(tmp_path / "bucc" / "report" / "xtreme" / "predictions"),
                           str(tmp_path / "bucc" / "report" / "xtreme" / "labels"), allow_missing=True)
    assert scored["tasks"]["bucc2018"]["metrics"]["f1"]["de"] == pytest.approx(100 * mining["f1"])
    assert scored["tasks"]["bucc2018"]["metrics"]["precision"]["de"] == 100.0

    # BUCC's own test split has no gold: its pairs are mined for submission and no F1 is made up
    (tmp_path / "bucc" / "de-en.test.gold").unlink()
    unscored = evaluate("bucc-no-gold", 32, f"--data.evaluation.bucc={{root: {tmp_path / 'bucc'}, pairs: [de-en]}}")
    assert unscored["mining"]["bucc-de-en"]["f1"] is None and unscored["mining"]["bucc-de-en"]["dev_f1"] == 1.0
    submitted = tmp_path / "bucc-no-gold" / "report" / "xtreme"
    assert (submitted / "predictions" / "bucc2018" / "test-de.tsv").read_text().count("\t") > 0
    assert not (submitted / "labels" / "bucc2018").exists()


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
