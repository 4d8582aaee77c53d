#!/usr/bin/env bash
# Runs the whole syncscope test suite on a fresh Debian 12 machine:
#   1. installs the dependencies (scripts/install-deps.sh, idempotent);
#   2. normal build with warnings as errors, every ctest label;
#   3. ThreadSanitizer and AddressSanitizer+UBSan builds of the parts whose
#      tests run under sanitizers (reclaim, map, prof without hooks, task,
#      the http debug server; ASan adds retain) and of syncscope-mapbench,
#      with its unit tests and one two-thread quick run (the parts and tools
#      per stage are chosen in CMakeLists.txt from SYNCSCOPE_SANITIZE);
#   4. a bounded libFuzzer run of the map operation fuzzer (clang).
# Prints each ctest summary, one count line per stage, the number of distinct
# ctest entries, and, last, one line "syncscope: N passed, M failed, K skipped".
# N counts a test once per stage that ran it (the sanitizer stages rerun
# tests of the normal stage under other builds): it is not a number of
# distinct checks (README: what the stages are).
# A GTEST_SKIP() is a skip, not a pass: ctest marks it "Skipped", and the
# counts come from ctest's JUnit file. A provisioned machine has every tool
# (install-deps.sh), so with CI=true any skip fails the run.
# Environment: SYNCSCOPE_TEST_SKIP="tsan asan debug thread-safety fuzz" skips stages (for local
# iteration; CI runs everything), JOBS sets build parallelism, TEST_JOBS the
# number of tests run at once (twice JOBS by default).
set -uo pipefail
cd "$(dirname "$0")/.."

jobs=${JOBS:-$(nproc)}
# ctest runs twice as many tests at once as there are cores: most of the
# suite's time is spent waiting (servers started on loopback, forked
# children, scrapes, timed workloads), and at -j2 on 2 cores the normal
# stage used 95 CPU-s in 100 s of wall time. At -j4: 59 s, and the
# sanitizer stages 32 s (was 45) and 47 s (was 63), every test passing in
# three runs of each. TEST_JOBS overrides.
test_jobs=${TEST_JOBS:-$((2 * jobs))}
skip=" ${SYNCSCOPE_TEST_SKIP:-} "
passed=0
failed=0
skipped=0
status=0
stage_lines=()  # "[stage] N passed, M failed, K skipped", one per stage run
failed_lines=() # "[stage] TestName", one per failed ctest entry, printed again at the end
junit_files=()  # each ctest stage's JUnit file, for the distinct count

bash scripts/install-deps.sh || exit 1

# junit_attr <name> <file>: a numeric attribute of the <testsuite> element
# (ctest writes one attribute per line).
junit_attr() {
  local v
  v=$(grep -m1 -oE "^[[:space:]]*$1=\"[0-9]+\"" "$2" | grep -oE '[0-9]+')
  echo "${v:-0}"
}

# count_stage <name> <passes> <fails> <skips>: adds to the totals and the log.
count_stage() {
  passed=$((passed + $2)); failed=$((failed + $3)); skipped=$((skipped + $4))
  stage_lines+=("[$1] $2 passed, $3 failed, $4 skipped")
  echo "==> [$1] $2 passed, $3 failed, $4 skipped"
}

# run_stage <name> <build-dir> <cmake args...>: configure, build, ctest.
run_stage() {
  local name=$1 dir=$2
  shift 2
  echo "==> [$name] configure and build ($dir)"
  if ! cmake -S . -B "$dir" -G Ninja -DSYNCSCOPE_WERROR=ON "$@" >"$dir.configure.log" 2>&1; then
    cat "$dir.configure.log"; echo "==> [$name] configure FAILED"; status=1; count_stage "$name" 0 1 0; return
  fi
  # stage_targets / stage_tests (empty = all) narrow a stage to some targets
  # and the ctest entries matching a regex (the debug stage below).
  if ! cmake --build "$dir" -j"$jobs" ${stage_targets:+--target $stage_targets} >"$dir.build.log" 2>&1; then
    tail -80 "$dir.build.log"; echo "==> [$name] build FAILED"; status=1; count_stage "$name" 0 1 0; return
  fi
  echo "==> [$name] ctest"
  local log="$dir.ctest.log" junit="$PWD/$dir.ctest.xml"
  rm -f "$junit"
  ctest --test-dir "$dir" --output-on-failure -j"$test_jobs" --timeout 600 --output-junit "$junit" \
    ${stage_tests:+-R "$stage_tests"} ${stage_tests_exclude:+-E "$stage_tests_exclude"} 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  local total=0 fails=0 skips=0
  if [[ -s $junit ]]; then
    total=$(junit_attr tests "$junit")
    fails=$(junit_attr failures "$junit")
    skips=$(junit_attr skipped "$junit")
    junit_files+=("$junit")
  fi
  if ((rc != 0)); then
    status=1
    ((fails > 0)) || fails=1  # ctest failed without a countable test failure
  fi
  local passes=$((total - fails - skips))
  ((passes >= 0)) || passes=0
  count_stage "$name" "$passes" "$fails" "$skips"
  if [[ -s $junit ]]; then
    local t
    while IFS= read -r t; do failed_lines+=("[$name] $t"); done < <(
      grep -oE '<testcase name="[^"]*"[^>]*status="fail"' "$junit" | sed -E 's/<testcase name="([^"]*)".*/\1/')
  fi
  if ((skips > 0)); then
    echo "==> [$name] skipped (a provisioned machine skips nothing):"
    grep -oE '<testcase name="[^"]*"[^>]*status="notrun"' "$junit" |
      sed -E 's/<testcase name="([^"]*)".*/    \1/'
  fi
}

# Debug information: line tables only (-g1). That is all the symbolizer, the
# core tool and sanitizer reports read (function names, inlined frames, file
# and line; nothing reads DWARF types or locals), and it cuts each compile by
# about a quarter against -g, the suite's largest cost.
line_tables=(-DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG"
             -DCMAKE_CXX_FLAGS_DEBUG="-O0 -g1" -DCMAKE_C_FLAGS_DEBUG="-O0 -g1")

mkdir -p build
run_stage normal build -DCMAKE_BUILD_TYPE=RelWithDebInfo "${line_tables[@]}"
[[ $skip == *" tsan "* ]] || run_stage tsan build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSYNCSCOPE_SANITIZE=thread "${line_tables[@]}"
# The ASan stage's core-file tests read cores of the normal stage's fixture
# program (uninstrumented: its heap must be glibc's; tests/core/CMakeLists.txt).
# The ASan stage compiles at -O0. With ASan and UBSan instrumentation its
# build was the suite's largest cost: 12.4 of 30.4 minutes at -O1 (1,476
# CPU-seconds by ninja's log, a third of it the map conformance tests).
# At -O0 it took 5.7 minutes (681 CPU-s; map_conformance_test.cc 43.6 CPU-s
# at -O1, 19.2 at -O0, 60-64 at -O2) and its tests 64 s instead of 41. The
# checks stay the same: -O0 instruments every access the source makes,
# where optimization only removes some, and UBSan checks each operation at
# any level.
asan_line_tables=(-DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O0 -g1 -DNDEBUG" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O0 -g1 -DNDEBUG")
[[ $skip == *" asan "* ]] || run_stage asan build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSYNCSCOPE_SANITIZE=address "${asan_line_tables[@]}" \
  -DSYNCSCOPE_CORE_FIXTURE="$PWD/build/bin/core_heap_fixture"

# --- debug stage (issue 15, item 1) -----------------------------------------
# An unoptimized (-O0) build of the lab and the http server with their tests:
# without inlining, two inline functions of one name (an ODR violation) stay
# out-of-line and the linker keeps one of them for every caller, so such a
# bug shows here as a wrong constructor call. Only those targets build.
# LabCompare needs syncscope-mapbench, which this stage does not build.
if [[ $skip != *" debug "* ]]; then
  stage_targets="syncscope-lab syncscope_lab_test syncscope_lab_judge_test http_unit_test"
  stage_tests='^(Lab[A-Za-z]*|DebugServer|ProfileParams|BadInput|ListenAddress)\.'
  stage_tests_exclude='^LabCompare\.'
  run_stage debug build-debug -DCMAKE_BUILD_TYPE=Debug "${line_tables[@]}"
  unset stage_targets stage_tests stage_tests_exclude
fi
# --- end of the debug stage ---------------------------------------------------

# --- thread-safety stage (issue 15, item 9) ------------------------------------
# Clang's -Wthread-safety over the files whose lock-protected state carries
# ABSL_GUARDED_BY annotations: compile-only (-fsyntax-only), so it costs
# seconds. A file joins the list when its locks are annotated, or when it
# takes an annotated lock (the fork handlers). Locks are annotated through
# src/common/annotated_mutex.h (std::mutex underneath), prof's SpinLock, or
# absl::Mutex (the lab's heap sampler). Clang 14 (Debian 12's) cannot parse
# libstdc++ 12's std::source_location, which the task API uses, so every file
# gets scripts/thread_safety/source_location_stand_in.h first (it declares
# nothing where clang has the builtin).
thread_safety_files=(
  src/http/bounded_task_queue.cc src/http/debug_server.cc src/http/fork_participants.cc
  src/http/header_deadlines.cc src/http/mhd_front.cc src/http/source_heap.cc
  src/prof/contention_profiler.cc src/prof/heap_recorder.cc src/prof/live_block_table.cc
  src/prof/sampled_heap.cc src/prof/stack_table.cc src/prof/symbolizer.cc src/prof/task_labels.cc
  src/retain/naming.cc src/retain/retention_snapshot.cc
  src/task/deadline_watchdog.cc src/task/executor.cc src/task/task.cc src/task/task_registry.cc
  src/task/thread_dump.cc src/task/trace_recorder.cc
  tools/lab/heap_sampler.cc)
# The checks run in the background, beside the fuzz stage below: one clang
# at a time on one core, while the fuzzer runs on one thread on the other
# (23 s of the suite's time before). Their output goes to a log, printed
# when a check fails; the count is taken after the fuzz stage.
ts_pid=
if [[ $skip != *" thread-safety "* ]]; then
  echo "==> [thread-safety] clang -Wthread-safety -Werror, compile only (beside the fuzz stage)"
  ts_log=build/thread-safety.log
  (
    ts_ok=1
    for f in "${thread_safety_files[@]}"; do
      clang++ -std=c++20 -fsyntax-only -Wthread-safety -Werror -include scripts/thread_safety/source_location_stand_in.h \
        -Iinclude -Isrc -I"$(dirname "$f")" "$f" || ts_ok=0
    done
    ((ts_ok))
  ) >"$ts_log" 2>&1 &
  ts_pid=$!
fi
# --- end of the thread-safety stage (its count: after the fuzz stage) -----------

if [[ $skip != *" fuzz "* && -x scripts/fuzz.sh ]]; then
  echo "==> [fuzz] bounded libFuzzer run"
  if bash scripts/fuzz.sh "${SYNCSCOPE_FUZZ_SECONDS:-45}"; then
    count_stage fuzz 1 0 0
  else
    status=1; count_stage fuzz 0 1 0
  fi
fi

if [[ -n $ts_pid ]]; then
  if wait "$ts_pid"; then
    count_stage thread-safety 1 0 0
  else
    cat "$ts_log"; status=1; count_stage thread-safety 0 1 0
  fi
fi

echo "==> per stage (the same tests rerun under each build; README says what each stage is):"
for l in "${stage_lines[@]}"; do echo "    $l"; done
if ((${#junit_files[@]} > 0)); then
  echo "==> distinct ctest entries over all stages: $(cat "${junit_files[@]}" |
    grep -oE '<testcase name="[^"]*"' | sort -u | wc -l)"
fi
# The failed entries again, last, so that the tail of a long log names them.
if ((${#failed_lines[@]} > 0)); then
  echo "==> the failed entries' last output lines:"
  python3 scripts/junit_failures.py 25 "${junit_files[@]}"
  echo "==> failed:"
  for l in "${failed_lines[@]}"; do echo "    $l"; done
fi
if ((skipped > 0)) && [[ ${CI:-} == true ]]; then
  echo "==> $skipped skipped with CI=true: a provisioned machine must run every test"
  status=1
fi
echo "syncscope: $passed passed, $failed failed, $skipped skipped"
exit $status
