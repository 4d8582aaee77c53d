#!/usr/bin/env bash
# The main job: installs dependencies, builds syncscope into build/, and runs
# the lab — every leak scenario, its diagnosis and the fixes — writing the
# reports under lab-out/ (override with LAB_OUT). Extra arguments go to the
# lab after the scenario, e.g. `scripts/lab.sh --serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"${JOBS:-$(nproc)}"
scenario=${LAB_SCENARIO:-all}
exec build/bin/syncscope-lab "$scenario" --out "${LAB_OUT:-lab-out}" "$@"
