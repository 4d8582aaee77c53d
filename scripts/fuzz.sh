#!/usr/bin/env bash
# Runs the map operation-sequence fuzzer (tests/fuzz/map_ops_fuzz.cc) for a
# bounded time, from a fresh clang build in build-fuzz.
#   usage: scripts/fuzz.sh [SECONDS]     (default 60)
# Exits non-zero when the fuzzer finds a crash or a model mismatch (the
# reproducer is left in build-fuzz/artifacts/), or when the build fails.
set -euo pipefail

seconds="${1:-60}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
  echo "fuzz.sh: SECONDS must be a positive integer, got '$seconds'" >&2
  exit 2
fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build-fuzz"
jobs="${SYNCSCOPE_JOBS:-2}"

rm -rf "$build"
CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja \
  -DSYNCSCOPE_FUZZ=ON -DSYNCSCOPE_ONLY_PARTS="reclaim;map" \
  -DSYNCSCOPE_BUILD_TOOLS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$jobs" --target map_ops_fuzz

mkdir -p "$build/corpus" "$build/artifacts"
echo "fuzz.sh: running map_ops_fuzz for ${seconds}s"
"$build/bin/map_ops_fuzz" -max_total_time="$seconds" -max_len=4096 -timeout=20 \
  -print_final_stats=1 -artifact_prefix="$build/artifacts/" "$build/corpus"
