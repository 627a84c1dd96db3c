"""Writes configs/experiments/ntrex-{a,b,c}.yaml: the NTREX runs differ only in their objectives.

    python tools/make_ntrex_configs.py
"""

from pathlib import Path

LANGS = {"arb": "ar", "deu": "de", "ell": "el", "fra": "fr", "hin": "hi", "jpn": "ja", "rus": "ru", "spa": "es",
         "swa": "sw", "tur": "tr", "vie": "vi", "zho-CN": "zh"}
D = "../shared/data/ntrex128"
# Contrastive recipe: the sequence loss learns sentence alignment far faster per second of compute than MMLM or
# TLM (runs a and b stay near chance in 10 minutes), so (c) spends most steps on it: monolingual batches feed a
# quarter of the steps and TLM uses a quarter of each parallel batch, while the contrastive views keep all 32 pairs.
# Validation runs once, when the time is up (the sentence-transformers baseline spends no budget on it either).
CONTRAST_RECIPE = {"proportions": "{monolingual: 0.25, PAIRS: 1.0}", "tlm_fraction": 0.25, "val_check_interval": 100000}
RUNS = {
    "a": ("MMLM only", None, {"mmlm": 1.0}, {}),
    "b": ("MMLM + TLM", "tlm", {"mmlm": 1.0, "tlm": 1.0}, {}),
    "c": ("MMLM + TLM + sequence contrast", "both", {"mmlm": 1.0, "tlm": 1.0, "seq": 1.0}, CONTRAST_RECIPE),
    "d": ("MMLM + TLM + sequence + token contrast (the full VECO 2.0 objective)", "synonym",
          {"mmlm": 1.0, "tlm": 1.0, "seq": 1.0, "tok": 1.0}, CONTRAST_RECIPE),
}
DICTIONARIES = ["ar", "de", "el", "es", "fr", "hi", "ru", "tr", "vi", "zh"]  # ja and sw have none: induced


def config(key: str, title: str, parallel: str | None, weights: dict[str, float], recipe: dict) -> str:
    mono = "\n".join([f"      en: {D}/newstest2019-src.eng.txt"]
                     + [f"      {iso}: {D}/newstest2019-ref.{code}.txt" for code, iso in LANGS.items()])
    par = "\n".join(f"      {iso}-en: {{src: {D}/newstest2019-ref.{code}.txt, tgt: {D}/newstest2019-src.eng.txt, "
                    "lines: [0, -200]}" for code, iso in LANGS.items())
    held = "\n".join(f"      {iso}-en: {{src_lang: {iso}, tgt_lang: en, src: {D}/newstest2019-ref.{code}.txt, "
                     f"tgt: {D}/newstest2019-src.eng.txt, lines: [-200, null]}}" for code, iso in LANGS.items())
    dictionaries = "\n".join(f"      en-{iso}: [../shared/data/dictionaries/en-{iso}.tsv]" for iso in DICTIONARIES)
    synonym_block = f"""    dictionaries:            # mined once while tokenizing, cached with the pairs
{dictionaries}
    induce: true              # ja-en and sw-en: a dictionary induced from their training pairs
    stop_words: true
""" if parallel == "synonym" else ""
    par_block = "" if parallel is None else f"""  {"synonym" if parallel == "synonym" else "parallel"}:
    files:
{par}
    max_length: 128
    batch_size: 32
    alpha: 0.3
    tlm_probability: 0.25
    tlm_fraction: {recipe.get("tlm_fraction", 1.0)}
    contrastive: {str(parallel in ("both", "synonym")).lower()}
    val_pairs: 0              # the held-out tails are scored through data.evaluation below
{synonym_block}"""
    seq_block = "" if parallel not in ("both", "synonym") else """  seq_contrast:
    temperature: 0.05
    pooling: mean
    layer: -1
    gather: true
"""
    if parallel == "synonym":
        seq_block += """  tok_contrast:
    temperature: 0.1
    pooling: mean
    layer: -1
    negatives: instance
    input: pairs              # the clean views of the sequence contrast: no extra forward pass
"""
    w = ", ".join(f"{k}: {v}" for k, v in weights.items())
    pairs_source = "synonym" if parallel == "synonym" else "parallel"
    proportions = (f"  proportions: {recipe['proportions'].replace('PAIRS', pairs_source)}\n"
                   if "proportions" in recipe else "")
    return f"""# NTREX experiment ({key}): {title}. A small encoder (4 x 256) trained for 10 minutes of wall clock on CPU, on
# NTREX-128 (12 languages paired with English; the last 200 lines of every file held out and scored in validation).
# Written by tools/make_ntrex_configs.py.
#
# Once, the shared tokenizer (all runs use it):
#   veco-train-tokenizer --output_dir runs/ntrex/tokenizer --vocab_size 16000 --max_lines null \\
#     --files '{{en: [{D}/newstest2019-src.eng.txt], xx: [{D}/newstest2019-ref.*.txt]}}'
# Train (from the repository root; reads ../shared/data):
#   veco-fit --config configs/experiments/ntrex-{key}.yaml
# Evaluate on Tatoeba (12 NTREX languages):
#   veco-fit test --config configs/eval/tatoeba.yaml --model.encoder.path runs/ntrex-{key}/hf_model \\
#     --data.tokenizer runs/ntrex-{key}/hf_model --model.evaluation.report_dir runs/ntrex-{key}/eval
seed_everything: 0
trainer:
  accelerator: cpu
  devices: 1
  precision: 32-true
  max_time: "00:00:10:00"
  max_steps: -1
  max_epochs: -1
  val_check_interval: {recipe.get("val_check_interval", 250)}
  check_val_every_n_epoch: null
  log_every_n_steps: 25
  default_root_dir: runs/ntrex-{key}
  callbacks:
    - class_path: veco_lightning.callbacks.EncoderThroughput
    - class_path: lightning.pytorch.callbacks.ModelCheckpoint
      init_args: {{save_last: true, every_n_train_steps: 500}}
model:
  encoder:
    preset: small
    max_length: 128
  loss_weights: {{{w}}}
{seq_block}  optimizer:
    class_path: torch.optim.AdamW
    init_args: {{lr: 0.0005, betas: [0.9, 0.98], eps: 1.0e-06}}
  lr_scheduler:                # warm-up, then constant: the runs stop on wall-clock time
    class_path: veco_lightning.optim.WarmupLinearSchedule
    init_args: {{warmup_steps: 100, total_steps: 100000, final_ratio: 1.0}}
data:
  tokenizer: runs/ntrex/tokenizer
{proportions}  monolingual:
    files:
{mono}
    lines: [0, -200]
    max_length: 128
    batch_size: 16
    alpha: 0.3
    val_fraction: 0.02
{par_block}  evaluation:
    pairs:
{held}
    max_length: 128
    batch_size: 64
    val_max_pairs: 200
export:
  dirpath: runs/ntrex-{key}/hf_model
"""


def heldout_config() -> str:
    held = "\n".join(f"      {iso}-en: {{src_lang: {iso}, tgt_lang: en, src: {D}/newstest2019-ref.{code}.txt, "
                     f"tgt: {D}/newstest2019-src.eng.txt, lines: [-200, null]}}" for code, iso in LANGS.items())
    dictionaries = "\n".join(f"      en-{iso}: [../shared/data/dictionaries/en-{iso}.tsv]" for iso in DICTIONARIES)
    return f"""# The NTREX experiments' development set: the last 200 lines of every NTREX-128 file, never trained on
# (sentence retrieval, and synonym retrieval where a dictionary covers the pair). Recipes are compared here;
# Tatoeba (configs/eval/tatoeba.yaml) is the test set. Written by tools/make_ntrex_configs.py.
#
#   veco-fit test --config configs/eval/ntrex-heldout.yaml --model.encoder.path runs/ntrex-c/hf_model \
#     --data.tokenizer runs/ntrex-c/hf_model --model.evaluation.report_dir runs/ntrex-c/eval-heldout
verbose: false
trainer:
  accelerator: auto
  devices: 1
  logger: false
  enable_checkpointing: false
model:
  encoder:
    preset: null
    path: runs/ntrex-c/hf_model
  evaluation:
    layer: -1
    pooling: mean
    report_dir: runs/ntrex-c/eval-heldout
data:
  tokenizer: runs/ntrex-c/hf_model
  monolingual: null
  evaluation:
    pairs:
{held}
    dictionaries:
{dictionaries}
    max_length: 128
    batch_size: 128
"""


if __name__ == "__main__":
    out = Path(__file__).resolve().parents[1] / "configs" / "experiments"
    out.mkdir(parents=True, exist_ok=True)
    for key, spec in RUNS.items():
        (out / f"ntrex-{key}.yaml").write_text(config(key, *spec))
    (out.parent / "eval" / "ntrex-heldout.yaml").write_text(heldout_config())
