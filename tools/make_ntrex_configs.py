"""Writes the NTREX experiment configs: ``configs/experiments/ntrex.yaml`` (data, model, trainer: the full VECO 2.0
recipe) and one small delta per run, ``ntrex-{a,b,c,d}.yaml``, composed after it, plus the development-set evaluation
``configs/eval/ntrex-heldout.yaml``.

    python tools/make_ntrex_configs.py
"""

from pathlib import Path

LANGS = {"arb": "ar", "deu": "de", "ell": "el", "fra": "fr", "hin": "hi", "jpn": "ja", "rus": "ru", "spa": "es",
         "swa": "sw", "tur": "tr", "vie": "vi", "zho-CN": "zh"}
D = "../shared/data/ntrex128"
DICTIONARIES = ["ar", "de", "el", "es", "fr", "hi", "ru", "tr", "vi", "zh"]  # ja and sw have none: induced
HEADER = """# NTREX experiment ({key}): {title}. A small encoder (4 x 256) trained for 10 minutes of wall
# clock on CPU, on NTREX-128 (12 languages paired with English; the last 200 lines of every file held out).
# The data, model and trainer are in ntrex.yaml; this file holds what the run changes. Written by
# tools/make_ntrex_configs.py.
#
#   veco-fit --config configs/experiments/ntrex.yaml --config configs/experiments/ntrex-{key}.yaml
#   veco-fit test --config configs/eval/tatoeba.yaml --model.encoder.path runs/ntrex-{key}/hf_model \\
#     --data.tokenizer runs/ntrex-{key}/hf_model --model.evaluation.report_dir runs/ntrex-{key}/eval
"""
# What each run changes. The pairs are read by data.synonym in every run; without dictionaries (a-c) they are plain
# translation pairs, exactly as data.parallel would give them.
#
# Contrastive recipe (c, d): the sequence loss learns sentence alignment far faster per second of compute than MMLM
# or TLM (runs a and b stay near chance in 10 minutes), so monolingual batches feed a quarter of the steps and TLM
# uses a quarter of each parallel batch, while the contrastive views keep all 32 pairs. Validation runs once, when the
# time is up (the sentence-transformers baseline spends no budget on it either); a and b validate every 250 steps.
NO_DICTIONARIES = """    dictionaries: {}
    induce: false
"""
RUNS = {  # run -> (title, trainer settings, model and data settings)
    "a": ("MMLM only", "  val_check_interval: 250\n", """model:
  loss_weights: {mmlm: 1.0, tlm: 0.0, seq: 0.0, tok: 0.0}
data:
  proportions: null
  synonym: null
"""),
    "b": ("MMLM + TLM", "  val_check_interval: 250\n", """model:
  loss_weights: {mmlm: 1.0, tlm: 1.0, seq: 0.0, tok: 0.0}
data:
  proportions: null
  synonym:
    tlm_fraction: 1.0
    contrastive: false
""" + NO_DICTIONARIES),
    "c": ("MMLM + TLM + sequence contrast", "", """model:
  loss_weights: {mmlm: 1.0, tlm: 1.0, seq: 1.0, tok: 0.0}
data:
  synonym:
""" + NO_DICTIONARIES),
    "d": ("MMLM + TLM + sequence + token contrast (the full VECO 2.0 objective)", "", ""),
}


def pair_files(held_out: bool) -> str:
    lines = "[-200, null]" if held_out else "[0, -200]"
    return "\n".join(f"      {iso}-en: {{src: {D}/newstest2019-ref.{code}.txt, tgt: {D}/newstest2019-src.eng.txt, "
                     f"lines: {lines}}}" for code, iso in LANGS.items())


def dictionaries() -> str:
    return "\n".join(f"      en-{iso}: [../shared/data/dictionaries/en-{iso}.tsv]" for iso in DICTIONARIES)


def base_config() -> str:
    mono = "\n".join([f"      en: {D}/newstest2019-src.eng.txt"]
                     + [f"      {iso}: {D}/newstest2019-ref.{code}.txt" for code, iso in LANGS.items()])
    return f"""# NTREX experiments: data, model and trainer of every run, set up as the full VECO 2.0 recipe (run d).
# A small encoder (4 x 256) trained for 10 minutes of wall clock on CPU on NTREX-128 (12 languages paired with
# English; the last 200 lines of every file held out and scored in validation). Each run composes a small delta
# after this file:
#
#   veco-fit --config configs/experiments/ntrex.yaml --config configs/experiments/ntrex-c.yaml
#
# Once, the shared tokenizer (all runs use it):
#   veco-train-tokenizer --output_dir runs/ntrex/tokenizer --vocab_size 16000 --max_lines null \\
#     --files '{{en: [{D}/newstest2019-src.eng.txt], xx: [{D}/newstest2019-ref.*.txt]}}'
# Run from the repository root (reads ../shared/data). Written by tools/make_ntrex_configs.py.
seed_everything: 0
trainer:
  accelerator: cpu
  devices: 1
  precision: 32-true
  max_time: "00:00:10:00"
  max_steps: -1
  max_epochs: -1
  val_check_interval: 100000
  check_val_every_n_epoch: null
  log_every_n_steps: 25
  callbacks:
    - class_path: veco_lightning.callbacks.EncoderThroughput
    - class_path: lightning.pytorch.callbacks.ModelCheckpoint
      init_args: {{save_last: true, every_n_train_steps: 500}}  # under <default_root_dir>: --ckpt_path last finds it
model:
  encoder:
    preset: small
    max_length: 128
  loss_weights: {{mmlm: 1.0, tlm: 1.0, seq: 1.0, tok: 1.0}}
  seq_contrast:
    temperature: 0.05
    pooling: mean
    layer: -1
    gather: true
  tok_contrast:
    temperature: 0.1
    pooling: mean
    layer: -1
    negatives: instance
    input: pairs              # the clean views of the sequence contrast: no extra forward pass
  optimizer:
    class_path: torch.optim.AdamW
    init_args: {{lr: 0.0005, betas: [0.9, 0.98], eps: 1.0e-06, fused: true}}
  lr_scheduler:                # warm-up, then constant: the runs stop on wall-clock time
    class_path: veco_lightning.optim.WarmupLinearSchedule
    init_args: {{warmup_steps: 100, total_steps: 100000, final_ratio: 1.0}}
data:
  tokenizer: runs/ntrex/tokenizer
  proportions: {{monolingual: 0.25, synonym: 1.0}}
  monolingual:
    files:
{mono}
    lines: [0, -200]
    max_length: 128
    batch_size: 16
    alpha: 0.3
    val_fraction: 0.02
  synonym:
    files:
{pair_files(held_out=False)}
    max_length: 128
    batch_size: 32
    alpha: 0.3
    tlm_probability: 0.25
    tlm_fraction: 0.25
    contrastive: true
    val_pairs: 0              # the held-out tails are scored through data.evaluation below
    dictionaries:            # mined once while tokenizing, cached with the pairs
{dictionaries()}
    induce: true              # ja-en and sw-en: a dictionary induced from their training pairs
    stop_words: true
  evaluation:
    pairs:
{pair_files(held_out=True)}
    max_length: 128
    batch_size: 64
    val_max_pairs: 200
"""


def delta_config(key: str, title: str, trainer: str, changes: str) -> str:
    run_dir = f"trainer:\n  default_root_dir: runs/ntrex-{key}\n"
    export = f"export:\n  dirpath: runs/ntrex-{key}/hf_model\n"
    return HEADER.format(key=key, title=title) + run_dir + trainer + changes + export


def heldout_config() -> str:
    return f"""# The NTREX experiments' development set: the last 200 lines of every NTREX-128 file, never trained on
# (sentence retrieval, and synonym retrieval where a dictionary covers the pair). Recipes are compared here;
# Tatoeba (configs/eval/tatoeba.yaml) is the test set. Written by tools/make_ntrex_configs.py.
#
#   veco-fit test --config configs/eval/ntrex-heldout.yaml --model.encoder.path runs/ntrex-c/hf_model \\
#     --data.tokenizer runs/ntrex-c/hf_model --model.evaluation.report_dir runs/ntrex-c/eval-heldout
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
{pair_files(held_out=True)}
    dictionaries:
{dictionaries()}
    max_length: 128
    batch_size: 128
"""


if __name__ == "__main__":
    out = Path(__file__).resolve().parents[1] / "configs" / "experiments"
    out.mkdir(parents=True, exist_ok=True)
    (out / "ntrex.yaml").write_text(base_config())
    for key, spec in RUNS.items():
        (out / f"ntrex-{key}.yaml").write_text(delta_config(key, *spec))
    (out.parent / "eval" / "ntrex-heldout.yaml").write_text(heldout_config())
