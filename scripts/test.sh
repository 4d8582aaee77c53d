#!/usr/bin/env bash
# Runs the whole syncscope test suite on a fresh Debian 12 machine:
#   1. installs the dependencies (scripts/install-deps.sh, idempotent);
#   2. normal build with warnings as errors, every ctest label;
#   3. ThreadSanitizer and AddressSanitizer+UBSan builds of the parts whose
#      tests run under sanitizers (reclaim, map, prof without hooks, task);
#   4. a bounded libFuzzer run of the map operation fuzzer (clang).
# Prints each ctest summary and, last, one line "syncscope: N passed, M failed".
# Environment: SYNCSCOPE_TEST_SKIP="tsan asan fuzz" skips stages (for local
# iteration; CI runs everything), JOBS sets build parallelism.
set -uo pipefail
cd "$(dirname "$0")/.."

jobs=${JOBS:-$(nproc)}
skip=" ${SYNCSCOPE_TEST_SKIP:-} "
passed=0
failed=0
status=0

bash scripts/install-deps.sh || exit 1

# run_stage <name> <build-dir> <cmake args...>: configure, build, ctest.
run_stage() {
  local name=$1 dir=$2
  shift 2
  echo "==> [$name] configure and build ($dir)"
  if ! cmake -S . -B "$dir" -G Ninja -DSYNCSCOPE_WERROR=ON "$@" >"$dir.configure.log" 2>&1; then
    cat "$dir.configure.log"; echo "==> [$name] configure FAILED"; status=1; failed=$((failed + 1)); return
  fi
  if ! cmake --build "$dir" -j"$jobs" >"$dir.build.log" 2>&1; then
    tail -80 "$dir.build.log"; echo "==> [$name] build FAILED"; status=1; failed=$((failed + 1)); return
  fi
  echo "==> [$name] ctest"
  local log="$dir.ctest.log"
  ctest --test-dir "$dir" --output-on-failure -j2 --timeout 600 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  local line
  line=$(grep -E "tests passed, [0-9]+ tests failed out of [0-9]+" "$log" | tail -1)
  if [[ -n $line ]]; then
    local total fails
    total=$(sed -E 's/.*out of ([0-9]+).*/\1/' <<<"$line")
    fails=$(sed -E 's/.*tests passed, ([0-9]+) tests failed.*/\1/' <<<"$line")
    passed=$((passed + total - fails))
    failed=$((failed + fails))
  elif ((rc != 0)); then
    failed=$((failed + 1))
  fi
  ((rc == 0)) || status=1
}

mkdir -p build
run_stage normal build -DCMAKE_BUILD_TYPE=RelWithDebInfo
[[ $skip == *" tsan "* ]] || run_stage tsan build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSYNCSCOPE_SANITIZE=thread
[[ $skip == *" asan "* ]] || run_stage asan build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSYNCSCOPE_SANITIZE=address

if [[ $skip != *" fuzz "* && -x scripts/fuzz.sh ]]; then
  echo "==> [fuzz] bounded libFuzzer run"
  if bash scripts/fuzz.sh "${SYNCSCOPE_FUZZ_SECONDS:-45}"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1)); status=1
  fi
fi

echo "syncscope: $passed passed, $failed failed"
exit $status
