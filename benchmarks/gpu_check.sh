#!/usr/bin/env bash
# The GPU checks (issue point 8) as one run on a GPU machine, from the repository root, with nothing installed but the
# machine's own PyTorch image: the package is used from the source tree (PYTHONPATH), not installed.
#
#   1. what the machine has (nvidia-smi, versions, which of the package's dependencies import);
#   2. the GPU tests: pytest -m gpu (all four objectives in bf16 through the CLI, plainly and under FSDP);
#   3. benchmarks/gpu.py: the MLM step at base and large in bf16-mixed, tokens/s, MFU against the measured bf16
#      matmul peak, peak memory; single device, DDP and FSDP at large; the full VECO step at base and large on one
#      device (--veco); then 5 profiled steps at large (--profile 5: where the step's time goes, by kind of kernel).
#      Extra arguments go to it (--profile 0: no profile).
#
# Dependencies an image may lack (datasets, jsonargparse, torchdata and theirs; benchmarks/gpu.py itself needs none of
# them) travel as wheels in .whl/ (git-ignored). Fetch them where pip reaches PyPI, for the GPU machine's Python:
#
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
#       -d .whl -r benchmarks/gpu_wheels.txt
#
# then run this script there with .whl carried along ($WHEELS names another folder). Figures and logs go to $OUT
# (default benchmarks/results/gpu_check/): gpu.json, gpu.log, gpu_tests.log, machine.txt. $PYTHON (default python3)
# is the interpreter.
#
#   bash benchmarks/gpu_check.sh    # everything; limited to 120 s (tests) + 450 s (benchmark); on an H200 the
#                                   # tests took 24-32 s, the benchmark with --hf (no VECO step, no profile) 250 s
#   bash benchmarks/gpu_check.sh --strategies single --steps 30   # MLM + VECO step at base and large, profile:
#                                   # 300 s on an H200, tests included
#   bash benchmarks/gpu_check.sh --presets large --strategies single --compile   # model.compile at large
#   (on the H200 the compiled run's process had not exited 150 s after writing its results: give such a run a
#   limit of its own, e.g. timeout 240 bash benchmarks/gpu_check.sh ... --compile)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-benchmarks/results/gpu_check}
mkdir -p "$OUT"
PYTHON=${PYTHON:-python3}

WHEELS=${WHEELS:-.whl}
if compgen -G "$WHEELS/*.whl" >/dev/null; then
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/veco_site \
        "$WHEELS"/*.whl || { echo "the wheels in $WHEELS/ did not install"; exit 1; }
    export PYTHONPATH=/tmp/veco_site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false

{
    nvidia-smi 2>&1 || echo "no nvidia-smi"
    "$PYTHON" - <<'EOF'
import importlib, platform
import torch
print("python", platform.python_version(), "| torch", torch.__version__, "| CUDA", torch.version.cuda,
      "| GPU", torch.cuda.get_device_name() if torch.cuda.is_available() else None)
for name in ("lightning", "transformers", "tokenizers", "torchmetrics", "datasets", "jsonargparse", "torchdata",
             "pyarrow", "fsspec", "huggingface_hub", "veco_lightning"):
    try:
        module = importlib.import_module(name)
        print(f"{name} {getattr(module, '__version__', '?')} ({module.__file__})")
    except Exception as error:  # noqa: BLE001 - reported, the checks below say what it breaks
        print(f"{name}: does not import ({type(error).__name__}: {error})")
EOF
} 2>&1 | tee "$OUT/machine.txt"

status=0
timeout 120 "$PYTHON" -m pytest -q -m gpu -p no:cacheprovider tests/test_quickstart.py 2>&1 | tee "$OUT/gpu_tests.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
timeout 450 "$PYTHON" benchmarks/gpu.py --output "$OUT/gpu.json" --veco --profile 5 "$@" 2>&1 | tee "$OUT/gpu.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
exit $status
