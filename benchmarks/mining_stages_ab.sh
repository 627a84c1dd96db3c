#!/usr/bin/env bash
# A/B of synonym preparation's stages (benchmarks/mining_stages.py) between two checkouts: run from each in turn,
# ROUNDS times, each arm in a process of its own, so that both see the host's drift alike. Each run's table and JSON
# go to OUT_DIR (<arm>_round<k>.log / .json); the "all" row of each is printed.
# Usage, from the repository root:
#   bash benchmarks/mining_stages_ab.sh BEFORE_DIR AFTER_DIR ROUNDS OUT_DIR [mining_stages.py options, e.g. --langs zh]
# (BEFORE_DIR, AFTER_DIR: checkouts, e.g. `git worktree add /tmp/before <commit>`; a checkout older than the script
# options used needs this commit's benchmarks/mining_stages.py copied in.)
set -euo pipefail
before=$1 after=$2 rounds=$3 out=$4
shift 4
mkdir -p "$out"
out=$(cd "$out" && pwd)  # absolute: the runs start in the checkouts
tok=$(ls -d "$PWD"/benchmarks/.cache/tokenizer-32000-* | head -1)
for round in $(seq 1 "$rounds"); do
  for arm in before after; do
    dir=$before; [ "$arm" = after ] && dir=$after
    (cd "$dir" && python benchmarks/mining_stages.py --data-dir "${VECO_BENCH_DATA:-$OLDPWD/../shared/data}" \
       --tokenizer "$tok" --repeats 5 --output "$out/${arm}_round${round}.json" "$@") \
       > "$out/${arm}_round${round}.log" 2>&1
    grep "^| all" "$out/${arm}_round${round}.log" | sed "s/^/round $round $arm /"
  done
done
