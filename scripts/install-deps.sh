#!/usr/bin/env bash
# Installs every Debian 12 package syncscope builds, tests and benchmarks with.
# Idempotent: packages already present are skipped, so a warm machine pays
# only for dpkg's check. Needs root (or sudo) and the Debian archive.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build clang libclang-rt-14-dev llvm pkg-config
  # libraries the project links
  libgtest-dev libgmock-dev libbenchmark-dev libabsl-dev libtbb-dev
  libcuckoo-dev libunwind-dev libdw-dev libelf-dev protobuf-compiler
  libprotobuf-dev zlib1g-dev libcpp-httplib-dev libcli11-dev nlohmann-json3-dev libmicrohttpd-dev
  # another allocator, for the test that the heap walk names it instead of guessing
  libjemalloc2
  liburcu-dev
  # real clients and peers used by tests and benchmarks
  golang-go prometheus heaptrack valgrind chromium python3 curl
  # syncscope-core tests: gcore takes the cores they read
  gdb
  # scripts/bench-cost.sh: GNU time for peak RSS (and libjemalloc2 above)
  time
  # pprof's own profile package: tools/pprofcheck validates every profile we serve
  golang-github-google-pprof-dev
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
echo "install-deps: installing ${#missing[@]} packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -q
"${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "install-deps: done"
