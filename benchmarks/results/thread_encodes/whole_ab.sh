#!/usr/bin/env bash
# The whole text-mining preparation of NTREX xSCALE (whole.py), a checkout BEFORE_DIR against this one, alternated
# round by round, each run a process of its own. Usage, from the repository root:
#   bash benchmarks/results/thread_encodes/whole_ab.sh BEFORE_DIR ROUNDS SCALE [NUM_PROC]
# (BEFORE_DIR: e.g. `git worktree add /tmp/before <commit>`.) Prints "round k <checkout> <seconds>".
set -euo pipefail
before=$1 rounds=$2 scale=$3 num_proc=${4:-1}
script="$PWD/benchmarks/results/thread_encodes/whole.py"
scratch=$(mktemp -d)
for round in $(seq 1 "$rounds"); do
  if [ $((round % 2)) = 1 ]; then order="before after"; else order="after before"; fi
  for arm in $order; do
    if [ "$arm" = before ]; then path=$before; else path=$PWD; fi
    (cd /tmp && PYTHONPATH="$path" python "$script" "$scale" "$scratch" "$num_proc") 2>/dev/null | tail -1 | sed "s/^/round $round /"
  done
done
rm -rf "$scratch"
