#!/bin/sh
# Builds a self-contained bundle of syncscope-mapbench for a bare x86-64 Linux
# machine (nothing installed, e.g. a 16-core box for the scaling figures):
#
#   scripts/mapbench-bundle.sh [BUILD_DIR] [OUT_TARBALL]
#   (defaults: build-mapbench-bundle, BUILD_DIR/syncscope-mapbench-bundle.tar.gz)
#
# Debian ships TBB only as a shared library, so a fully static driver is not
# possible; instead the driver is linked with SYNCSCOPE_STATIC_TOOLS=ON
# (static libstdc++/libgcc) and shipped with every shared library it loads,
# glibc's dynamic loader included, so it runs whatever the target's libc is.
# The Go harness ships as a static test binary (go test -c, CGO_ENABLED=0),
# so the Go columns work without a Go toolchain on the target.
#
# On the target:  tar xzf syncscope-mapbench-bundle.tar.gz
#                 syncscope-mapbench-bundle/syncscope-mapbench --markdown out.md --json out.json --svg out.svg
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build-mapbench-bundle}
case $build in /*) ;; *) build=$root/$build ;; esac
out=${2:-$build/syncscope-mapbench-bundle.tar.gz}
bundle=$build/syncscope-mapbench-bundle

say() { printf 'mapbench-bundle: %s\n' "$*" >&2; }

say "configuring $build (SYNCSCOPE_STATIC_TOOLS=ON)"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DSYNCSCOPE_STATIC_TOOLS=ON -DSYNCSCOPE_BUILD_TESTS=OFF -DSYNCSCOPE_ONLY_PARTS="reclaim;map" >/dev/null
say "building syncscope-mapbench"
cmake --build "$build" -j2 --target syncscope-mapbench >/dev/null

rm -rf "$bundle"
mkdir -p "$bundle/bin" "$bundle/lib"
cp "$build/bin/syncscope-mapbench" "$bundle/bin/"

if command -v go >/dev/null 2>&1; then
  say "building the Go harness as a static test binary"
  gotmp=$(mktemp -d)
  (cd "$root/tools/mapbench/go" &&
    env -u GOFLAGS GOPATH="$gotmp/gopath" GOCACHE="$gotmp/gocache" GOPROXY=off CGO_ENABLED=0 \
      go test -c -o "$bundle/bin/mapbench-go.test" .)
  chmod -R u+w "$gotmp" && rm -rf "$gotmp"
else
  say "warning: go not found; the bundle will have no Go columns"
fi

# Every shared library the driver loads, and the loader itself.
ldd "$build/bin/syncscope-mapbench" | while read -r name arrow path rest; do
  case $name in
    linux-vdso*) ;;
    /*) cp -L "$name" "$bundle/lib/" ;;
    *) [ "$arrow" = "=>" ] && [ -f "$path" ] && cp -L "$path" "$bundle/lib/" ;;
  esac
done
loader=$(ldd "$build/bin/syncscope-mapbench" | awk '$1 ~ /^\/.*ld-linux/ {print $1}')
[ -n "$loader" ] || { say "error: no dynamic loader found in ldd output"; exit 1; }
loader_name=$(basename "$loader")

cat >"$bundle/syncscope-mapbench" <<LAUNCHER
#!/bin/sh
# Runs the bundled driver with the bundled loader and libraries.
here=\$(cd "\$(dirname "\$0")" && pwd)
export SYNCSCOPE_MAPBENCH_GO_BIN="\$here/bin/mapbench-go.test"
exec "\$here/lib/$loader_name" --library-path "\$here/lib" "\$here/bin/syncscope-mapbench" "\$@"
LAUNCHER
chmod +x "$bundle/syncscope-mapbench"

# Self-check: the bundle must run with an empty environment (no PATH, so no
# system tools or Go are found) and produce a record.
say "self-check: running the bundle with an empty environment"
check=$(mktemp -d)
env -i "$bundle/syncscope-mapbench" --quick --workloads LoadMostlyHits --threads 1 \
  --csv "$check/check.csv" 2>"$check/stderr" || { cat "$check/stderr" >&2; exit 1; }
for system in libcuckoo tbb_concurrent_hash_map; do
  grep -q "^LoadMostlyHits,$system,1,[0-9]" "$check/check.csv" ||
    { say "error: self-check measured nothing for $system"; cat "$check/stderr" >&2; exit 1; }
done
if [ -x "$bundle/bin/mapbench-go.test" ]; then
  grep -q '^LoadMostlyHits,go_sync_map,1,[0-9]' "$check/check.csv" ||
    { say "error: self-check measured nothing for go_sync_map"; cat "$check/stderr" >&2; exit 1; }
fi
rm -rf "$check"

tar -C "$(dirname "$bundle")" -czf "$out" "$(basename "$bundle")"
say "bundle: $bundle ($(du -sh "$bundle" | cut -f1)); tarball: $out"
