#!/bin/bash
# bench/ab.sh: A/B two (or more) builds of one Google Benchmark program on a noisy machine.
#   bench/ab.sh FILTER ROUNDS BINARY_A BINARY_B ...
# Runs the binaries in turn, ROUNDS times, each with 3 repetitions of the benchmarks matching
# FILTER, and prints per binary and benchmark the median of every round, in time order: compare
# the lowest (or the spread), never one run of each. Copy the binary aside before rebuilding
# for the other side, e.g. cp build/bench/bench_seq2seq /tmp/bs_before.
set -euo pipefail
filter=$1; rounds=$2; shift 2
for r in $(seq "$rounds"); do
  for b in "$@"; do
    "$b" --benchmark_filter="$filter" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true 2>/dev/null |
      grep median | awk -v b="$(basename "$b")" '{print b, $1, $2}'
  done
done | awk '{k=$1" "$2; v[k]=v[k]" "$3} END {for (k in v) print k, v[k]}' | sort
