#!/usr/bin/env bash
# A/B of token mining's CPU time before and after the vectorised hash map (IntMap) and the join filter:
# benchmarks/mining_stages.py (the "mine tokens" stage) run alternately from a checkout of each commit.
# Usage, from the repository root: bash benchmarks/results/token_mining_intmap/ab.sh BEFORE_DIR AFTER_DIR [ROUNDS]
# (BEFORE_DIR: a checkout of 072f98a with this commit's benchmarks/mining_stages.py copied in; AFTER_DIR: this one)
set -euo pipefail
exec bash benchmarks/mining_stages_ab.sh "$1" "$2" "${3:-3}" benchmarks/results/token_mining_intmap
