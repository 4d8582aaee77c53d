#!/usr/bin/env bash
# Heap-profiler overhead on the alloc/free workload (alloc_workload.h), one
# run, every configuration interleaved, median of REPS runs each:
#   baseline        prof_alloc_workload (glibc malloc, nothing linked)
#   hooks-off       prof_alloc_workload_linked, profiler stopped (counters only)
#   sample-512K     linked, default sampling
#   exact           linked, exact mode + default sampling
#   preload-512K    baseline binary under LD_PRELOAD=libsyncscope_preload.so
#   heaptrack       baseline binary under heaptrack's preload + interpreter
# Usage: bench/prof/run_overhead.sh [BUILD_DIR]        (default: build)
#        SYNCSCOPE_BUNDLE=DIR bench/prof/run_overhead.sh  (DIR/bin, DIR/lib with
#        its own ld-linux, DIR/heaptrack: for machines without the packages)
# Env: OPS (per thread, default 4000000), REPS (default 5), THREADS ("1 2"),
#      PIN (taskset CPU list for the measured process, e.g. "4,5"; default none).
set -u
build=${1:-build}
OPS=${OPS:-4000000}
REPS=${REPS:-5}
THREADS=${THREADS:-"1 2"}
PIN=${PIN:-}
tmp=$(mktemp -d)
pin() { if [ -n "$PIN" ]; then taskset -c "$PIN" "$@"; else "$@"; fi; }
trap 'rm -rf "$tmp"' EXIT

if [ -n "${SYNCSCOPE_BUNDLE:-}" ]; then
  D=$SYNCSCOPE_BUNDLE
  BIN=$D/bin PRELOAD=$D/lib/libsyncscope_preload.so HT=$D/heaptrack
  run() { pin "$D/lib/ld-linux-x86-64.so.2" --library-path "$D/lib" "$@"; }
  run_preload() { local pre=$1; shift; pin "$D/lib/ld-linux-x86-64.so.2" --library-path "$D/lib" --preload "$pre" "$@"; }
  run_free() { "$D/lib/ld-linux-x86-64.so.2" --library-path "$D/lib" "$@"; }
else
  BIN=$build/bin PRELOAD=$build/lib/libsyncscope_preload.so HT=/usr/lib/heaptrack
  run() { pin "$@"; }
  run_preload() { local pre=$1; shift; LD_PRELOAD=$pre pin "$@"; }
  run_free() { "$@"; }
fi
for f in "$BIN/prof_alloc_workload" "$BIN/prof_alloc_workload_linked" "$PRELOAD"; do
  [ -e "$f" ] || { echo "missing $f (build with -DSYNCSCOPE_BUILD_BENCH=ON)" >&2; exit 2; }
done

heaptrack_run() {
  local fifo=$tmp/fifo
  rm -f "$fifo"; mkfifo "$fifo"
  run_free "$HT/libexec/heaptrack_interpret" < "$fifo" | gzip -c > "$tmp/heaptrack.gz" &
  local ip=$!
  DUMP_HEAPTRACK_OUTPUT=$fifo run_preload "$HT/libheaptrack_preload.so" "$@"
  wait $ip
}

one() {  # config threads -> seconds
  local c=$1 t=$2 out
  case $c in
    baseline)     out=$(run "$BIN/prof_alloc_workload" "$t" "$OPS") ;;
    hooks-off)    out=$(run "$BIN/prof_alloc_workload_linked" "$t" "$OPS" off) ;;
    sample-512K)  out=$(run "$BIN/prof_alloc_workload_linked" "$t" "$OPS" sample) ;;
    exact)        out=$(run "$BIN/prof_alloc_workload_linked" "$t" "$OPS" exact) ;;
    preload-512K) out=$(SYNCSCOPE_PROFILE_OUT=$tmp/p.%p.pb.gz run_preload "$PRELOAD" "$BIN/prof_alloc_workload" "$t" "$OPS") ;;
    heaptrack)    out=$(heaptrack_run "$BIN/prof_alloc_workload" "$t" "$OPS") ;;
  esac
  echo "$out" | sed -n 's/.*seconds=\([0-9.]*\).*/\1/p' | tail -1
}

configs="baseline hooks-off sample-512K exact preload-512K heaptrack"
[ -e "$HT/libheaptrack_preload.so" ] || configs=${configs% heaptrack}
for t in $THREADS; do
  for r in $(seq "$REPS"); do
    for c in $configs; do echo "$c $t $(one "$c" "$t")" >> "$tmp/raw"; done
  done
done

echo "ops/thread=$OPS reps=$REPS (median seconds; ratio = median / baseline median)"
printf "%-13s %7s %10s %10s %9s\n" config threads seconds ns_per_op ratio
for t in $THREADS; do
  base=$(awk -v t="$t" '$1=="baseline" && $2==t {print $3}' "$tmp/raw" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  for c in $configs; do
    med=$(awk -v c="$c" -v t="$t" '$1==c && $2==t {print $3}' "$tmp/raw" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    awk -v c="$c" -v t="$t" -v m="$med" -v b="$base" -v ops="$OPS" \
      'BEGIN {printf "%-13s %7d %10.4f %10.2f %9.3f\n", c, t, m, m*1e9/ops, m/b}'
  done
done
