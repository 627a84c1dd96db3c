#!/usr/bin/env bash
# A/B of token mining's CPU time before and after the vectorised hash map (IntMap) and the join filter:
# benchmarks/mining_stages.py (the "mine tokens" stage) run alternately from a checkout of each commit.
# Usage, from the repository root: bash benchmarks/results/token_mining_intmap/ab.sh BEFORE_DIR AFTER_DIR [ROUNDS]
# (BEFORE_DIR: a checkout of 072f98a with this commit's benchmarks/mining_stages.py copied in; AFTER_DIR: this one)
set -euo pipefail
before=$1 after=$2 rounds=${3:-3}
out=benchmarks/results/token_mining_intmap
tok=$(ls -d "$PWD"/benchmarks/.cache/tokenizer-32000-* | head -1)
for round in $(seq 1 "$rounds"); do
  for arm in before after; do
    dir=$before; [ "$arm" = after ] && dir=$after
    (cd "$dir" && python benchmarks/mining_stages.py --data-dir "${VECO_BENCH_DATA:-$OLDPWD/../shared/data}" --tokenizer "$tok" --repeats 5 \
       --output "$OLDPWD/$out/${arm}_round${round}.json") > "$out/${arm}_round${round}.log" 2>&1
    grep "^| all" "$out/${arm}_round${round}.log" | sed "s/^/round $round $arm /"
  done
done
