#!/usr/bin/env bash
# syncscope-core on a core of a heap of BLOCKS blocks of SIZE bytes (issue 17's
# benchmark): takes the core with gcore, then times `summary` with GNU time.
# Prints wall time, peak RSS (which includes the core's file-backed pages the
# walk touched), the analysis' private memory per block, and heap bytes
# walked per second of the walk.
#
#   scripts/bench-core.sh [BUILD_DIR] [BLOCKS] [SIZE]
# BUILD_DIR (default build-bench) must hold bin/syncscope-core and
# bin/core_bench_heap: configure with -DSYNCSCOPE_BUILD_BENCH=ON and build both.
set -euo pipefail
build=${1:-build-bench}
blocks=${2:-1000000}
size=${3:-256}
tool="$build/bin/syncscope-core"
heap="$build/bin/core_bench_heap"
for f in "$tool" "$heap"; do
  [[ -x $f ]] || { echo "bench-core: $f not built (ninja -C $build syncscope-core core_bench_heap)" >&2; exit 2; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
coproc HEAP { exec "$heap" "$blocks" "$size"; }
heap_pid=$HEAP_PID
read -r -t 300 line <&"${HEAP[0]}"
[[ $line == ready ]] || { echo "bench-core: the heap program did not get ready" >&2; exit 1; }
gcore -o "$tmp/heap" "$heap_pid" >/dev/null 2>&1
core="$tmp/heap.$heap_pid"
eval "exec ${HEAP[1]}>&-"  # its stdin closes: it exits
wait "$heap_pid" || true
core_mib=$(( $(stat -c %s "$core") >> 20 ))
/usr/bin/time -f '%e %M' -o "$tmp/time" "$tool" "$core" summary --json >"$tmp/summary.json"
read -r wall rss_kib <"$tmp/time"
python3 - "$tmp/summary.json" "$wall" "$rss_kib" "$blocks" "$size" "$core_mib" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
wall, rss_kib, blocks, size, core_mib = float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
c = s["cost"]
walked = s["heap"]["heap_bytes"]
print(f"core: {core_mib} MiB; heap: {s['used']['blocks']} blocks of {size} B requested, {walked / 2**20:.0f} MiB of arena heaps")
print(f"summary: {wall:.2f} s wall (walk {c['walk_ns'] / 1e6:.0f} ms, scan {c['scan_ns'] / 1e6:.0f} ms, "
      f"analysis {c['analysis_ns'] / 1e6:.0f} ms)")
print(f"walk: {walked / (c['walk_ns'] / 1e9) / 1e9:.2f} GB/s of heap (headers read); "
      f"walk+scan: {walked / ((c['walk_ns'] + c['scan_ns']) / 1e9) / 1e9:.2f} GB/s")
print(f"memory: peak RSS {rss_kib / 1024:.0f} MiB ({rss_kib * 1024 / blocks:.0f} B/block, core pages included); "
      f"private {c['anon_peak_bytes'] / 2**20:.0f} MiB ({c['anon_peak_bytes'] / blocks:.0f} B/block)")
PY
