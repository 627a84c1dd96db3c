#!/usr/bin/env bash
# Does an export load in the oldest transformers the package accepts (pyproject: transformers>=4.50)?
#
#   bash tools/check_old_transformers.sh [EXPORT_DIR]
#
# Without EXPORT_DIR, exports a tiny encoder with the demo tokenizer (export_pretrained, this environment's
# transformers). Then loads the export's tokenizer and config in a throw-away venv holding the old transformers (no
# torch: a tokenizer needs none) and in this environment, encodes the same multilingual sentences (with <mask>, pairs,
# NFKC-normalised characters, an over-long input with truncation=True) in both and compares ids, special tokens and
# model_max_length. Exit status 0 when everything agrees. The venv is created when missing (needs PyPI once).
# Environment: PYTHON (this project's interpreter, default python), VENV (default /tmp/tf450), TRANSFORMERS (the pip
# requirement, default "transformers==4.50.*").
set -euo pipefail
PYTHON=${PYTHON:-python}
VENV=${VENV:-/tmp/tf450}
TRANSFORMERS=${TRANSFORMERS:-transformers==4.50.*}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

if [ ! -x "$VENV/bin/python" ]; then
  echo "Creating $VENV with $TRANSFORMERS"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet "$TRANSFORMERS" tokenizers
fi

EXPORT=${1:-$WORK/export}
if [ -z "${1:-}" ]; then
  "$PYTHON" - "$EXPORT" <<'PY'
import sys

from transformers import XLMRobertaForMaskedLM

from veco_lightning.data.tokenizer import load_tokenizer
from veco_lightning.models.encoder import preset_config
from veco_lightning.models.export import export_pretrained

tokenizer = load_tokenizer("pkg://veco_lightning/resources/demo/tokenizer")
model = XLMRobertaForMaskedLM(preset_config("tiny", len(tokenizer), tokenizer.pad_token_id, max_length=32))
export_pretrained(model, sys.argv[1], tokenizer)
PY
fi

cat > "$WORK/encode.py" <<'PY'
import json
import sys

import transformers
from transformers import AutoConfig, AutoTokenizer

path = sys.argv[1]
tokenizer = AutoTokenizer.from_pretrained(path)
texts = [
    "My brother lives in <mask>.", "Mein Bruder wohnt in <mask> und arbeitet dort.", "Mi hermano vive en Madrid.",
    "Mon frère habite à Paris, n'est-ce pas ?", "Мой брат живёт в <mask>.", "我的哥哥住在北京。<mask>",
    "ｆｕｌｌｗｉｄｔｈ ﬁne ①  double  spaces\tand tabs", "unknown scripts: مرحبا नमस्ते 🙂", "a<mask>b <mask>",
]
specials = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
json.dump({
    "transformers": transformers.__version__,
    "class": type(tokenizer).__name__,
    "model_max_length": tokenizer.model_max_length,
    "special_tokens": {name: [str(getattr(tokenizer, name)), getattr(tokenizer, name + "_id")] for name in specials},
    "vocabulary": len(tokenizer),
    "single": tokenizer(texts)["input_ids"],
    "tokens": [tokenizer.tokenize(text) for text in texts],
    "pair": tokenizer(texts[:4], texts[4:8])["input_ids"],
    "padded": tokenizer(texts, padding=True)["attention_mask"],
    "truncated": [len(ids) for ids in tokenizer(["word " * 2000, texts[0]], truncation=True)["input_ids"]],
    "layer_norm_eps": AutoConfig.from_pretrained(path).layer_norm_eps,
}, sys.stdout, ensure_ascii=False)
PY

"$VENV/bin/python" "$WORK/encode.py" "$EXPORT" > "$WORK/old.json" 2> "$WORK/old.log" \
  || { cat "$WORK/old.log"; echo "FAIL: the old transformers cannot load $EXPORT"; exit 1; }
"$PYTHON" "$WORK/encode.py" "$EXPORT" > "$WORK/new.json" 2> "$WORK/new.log" || { cat "$WORK/new.log"; exit 1; }

"$PYTHON" - "$WORK/old.json" "$WORK/new.json" <<'PY'
import json
import sys

old, new = (json.load(open(path, encoding="utf-8")) for path in sys.argv[1:])
print(f"transformers {old['transformers']} loads {old['class']}; transformers {new['transformers']} loads "
      f"{new['class']}")
print(f"model_max_length {old['model_max_length']} / {new['model_max_length']}; an over-long input truncates to "
      f"{old['truncated'][0]} / {new['truncated'][0]} ids; layer_norm_eps {old['layer_norm_eps']}")
print(f"special tokens (old): {old['special_tokens']}")
differ = [key for key in old if key not in ("transformers", "class") and old[key] != new[key]]
for key in differ:
    print(f"DIFFERENT {key}:\n  old {old[key]}\n  new {new[key]}")
print(f"ids of {len(old['single'])} sentences and {len(old['pair'])} pairs: " + ("DIFFERENT" if differ else "equal"))
sys.exit(1 if differ else 0)
PY
