#!/usr/bin/env bash
# The NTREX comparison: (a) MMLM, (b) MMLM + TLM, (c) MMLM + TLM + sequence contrast, (d) the full VECO 2.0
# objective (+ token contrast on dictionary synonym pairs), and the sentence-transformers
# MultipleNegativesRankingLoss baseline, each 10 minutes of wall clock on this machine, then the same Tatoeba
# evaluation (test) and NTREX held-out evaluation (development). Run from the repository root; reads ../shared/data.
#   bash benchmarks/ntrex_experiments.sh [a b c d st]      then   python benchmarks/ntrex_table.py
set -euo pipefail
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
[ -d runs/ntrex/tokenizer ] || veco-train-tokenizer --output_dir runs/ntrex/tokenizer --vocab_size 16000 --max_lines null \
  --files '{en: [../shared/data/ntrex128/newstest2019-src.eng.txt], xx: [../shared/data/ntrex128/newstest2019-ref.*.txt]}'
for run in "${@:-a b c d st}"; do
  for r in $run; do
    mkdir -p runs/ntrex-$r
    if [ "$r" = st ]; then
      python benchmarks/st_baseline.py --tokenizer runs/ntrex/tokenizer --output runs/ntrex-st/hf_model > runs/ntrex-st/train.log 2>&1
    else
      veco-fit --config configs/experiments/ntrex.yaml --config configs/experiments/ntrex-$r.yaml \
        > runs/ntrex-$r/train.log 2>&1
    fi
    veco-fit test --config configs/eval/tatoeba.yaml --model.encoder.path runs/ntrex-$r/hf_model \
      --data.tokenizer runs/ntrex-$r/hf_model --model.evaluation.report_dir runs/ntrex-$r/eval \
      --model.evaluation.heatmap_set deu-eng > runs/ntrex-$r/eval.log 2>&1
    veco-fit test --config configs/eval/ntrex-heldout.yaml --model.encoder.path runs/ntrex-$r/hf_model \
      --data.tokenizer runs/ntrex-$r/hf_model --model.evaluation.report_dir runs/ntrex-$r/eval-heldout \
      > runs/ntrex-$r/eval-heldout.log 2>&1
    echo "$r done $(date +%T)"
  done
done
