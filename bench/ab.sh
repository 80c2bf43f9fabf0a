#!/bin/bash
# bench/ab.sh: A/B two (or more) builds of one Google Benchmark program on a noisy machine.
#   bench/ab.sh FILTER ROUNDS BINARY_A BINARY_B ...
# Runs the binaries in turn, ROUNDS times, each with 3 repetitions of the benchmarks matching
# FILTER, and prints per binary and benchmark the median of every round, in time order: compare
# the lowest (or the spread), never one run of each. Copy the binary aside before rebuilding
# for the other side, e.g. cp build/bench/bench_seq2seq /tmp/bs_before.
set -euo pipefail
usage="usage: bench/ab.sh FILTER ROUNDS BINARY_A [BINARY_B ...]"
if [ $# -lt 3 ]; then echo "$usage" >&2; exit 2; fi
filter=$1; rounds=$2; shift 2
case "$rounds" in '' | *[!0-9]* | 0) echo "bench/ab.sh: ROUNDS must be a positive integer, got '$rounds'" >&2; exit 2 ;; esac
for b in "$@"; do
  [ -x "$b" ] || { echo "bench/ab.sh: '$b' is not an executable benchmark program" >&2; exit 2; }
done
out=$(for r in $(seq "$rounds"); do
  for b in "$@"; do
    "$b" --benchmark_filter="$filter" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true 2>/dev/null |
      awk -v b="$(basename "$b")" '/_median/ {print b, $1, $2}'
  done
done | awk '{k=$1" "$2; v[k]=v[k]" "$3} END {for (k in v) print k, v[k]}' | sort)
if [ -z "$out" ]; then echo "bench/ab.sh: no benchmark of $* matched '$filter'" >&2; exit 1; fi
echo "$out"
