#!/usr/bin/env bash
# The issue-11 scenario on the real quickstart: 300 steps straight vs killed (SIGKILL) at step 250 after the step-200
# checkpoint and resumed with --ckpt_path last. Prints max-abs weight difference and differing losses.
set -euo pipefail
# Usage: bash benchmarks/quickstart_resume.sh [work-dir]   (about 2 minutes on 2 CPU cores)
cd "$(dirname "$0")/.."
W=${1:-/tmp/qs-resume}; rm -rf "$W"; mkdir -p "$W"
export PYTHONPATH=$PWD/tests/helpers HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 QS_WORK=$W
common=(--config configs/quickstart.yaml --trainer.max_steps=300 --export.enabled=false --trainer.log_every_n_steps=1
        --trainer.logger=lightning.pytorch.loggers.CSVLogger)
run() { local d=$1; shift; python -m veco_lightning fit "${common[@]}" --trainer.default_root_dir="$d" \
  --trainer.logger.save_dir="$d" --trainer.callbacks.dirpath="$d"/checkpoints --trainer.callbacks.every_n_train_steps=100 "$@"; }
run "$W"/straight > "$W"/straight.log 2>&1
run "$W"/killed --trainer.callbacks+=run_control.PauseAtStep --trainer.callbacks.step=250 --trainer.callbacks.marker="$W"/paused > "$W"/killed.log 2>&1 &
pid=$!
while [ ! -f "$W"/paused ]; do
  kill -0 $pid 2>/dev/null || { echo "the run to kill ended early: see $W/killed.log" >&2; exit 1; }; sleep 1
done
kill -9 $pid || true; wait $pid || true
run "$W"/killed --ckpt_path=last > "$W"/resumed.log 2>&1
python - <<'PY'
import csv, glob, torch
import os
W = os.environ["QS_WORK"]
a = torch.load(f"{W}/straight/checkpoints/last.ckpt", weights_only=True)
b = torch.load(f"{W}/killed/checkpoints/last.ckpt", weights_only=True)
print("steps", a["global_step"], b["global_step"])
print("max abs weight diff", max(float((a["state_dict"][k] - b["state_dict"][k]).abs().max()) for k in a["state_dict"]))
def losses(root):
    v = {}
    for p in sorted(glob.glob(f"{root}/lightning_logs/*/metrics.csv")):
        for row in csv.DictReader(open(p)):
            for k, x in row.items():
                if k.startswith("train/") and k.endswith("loss") and x:
                    v[k, int(row["step"])] = float(x)
    return v
s, k = losses(f"{W}/straight"), losses(f"{W}/killed")
after = [key for key in s if key[1] >= 200]
print("loss values after step 200:", len(after), "differ:", sum(s[x] != k.get(x) for x in after))
PY
