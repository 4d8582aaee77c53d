#!/usr/bin/env bash
# The preloaded heap profiler's resident memory over a long run (issue 16,
# item 4: at most 2 MiB + 100 B per sampled live block, flat in time).
# Starts the C++ churn workload (prof_churn_workload: a hash map of strings
# per thread, a steady live set after its first second) once without a
# preload and once per configuration below, all at the same time, reads each
# process's resident set from /proc every EVERY seconds for DURATION
# seconds, and prints the difference against the run without a preload.
# Then it asks each syncscope process for a profile (SIGUSR2) and counts
# the sampled blocks live in it, n, from the profile's own estimates: a
# sampled block of s bytes at rate R has weight w = 1/(1-exp(-s/R)), so a
# stack whose live blocks share one size s (inuse_space / inuse_objects)
# holds inuse_objects * (1-exp(-s/R)) of them, and every block adds
# w * s >= R to inuse_space, so n <= inuse_space / R. Every process it
# started is ended by its pid.
#
# Usage: scripts/bench-rss.sh [BUILD_DIR]      (default: build)
#   needs BUILD_DIR/lib/libsyncscope_preload.so and BUILD_DIR/bin/prof_churn_workload
#   (-DSYNCSCOPE_BUILD_BENCH=ON), and `go` for the profile's sums.
# Env: DURATION (seconds, default 600), EVERY (seconds between readings,
#      default 30), RATES (syncscope sampling rates to run, one process each,
#      default "524288 4096"), THREADS (per process, default 1), JEMALLOC (1,
#      the default: also plain jemalloc and jemalloc's profiler at the same
#      rates, lg_prof_sample = log2(rate), when libjemalloc is installed).
# Progress: one line per reading on stdout.
set -euo pipefail
build=${1:-build}
export BENCH_PRELOAD=$(realpath "$build/lib/libsyncscope_preload.so")
export BENCH_WORKLOAD=$(realpath "$build/bin/prof_churn_workload")
export DURATION=${DURATION:-600}
export EVERY=${EVERY:-30}
export RATES=${RATES:-"524288 4096"}
export THREADS=${THREADS:-1}
export JEMALLOC=${JEMALLOC:-1}
for f in "$BENCH_PRELOAD" "$BENCH_WORKLOAD"; do
  [ -e "$f" ] || { echo "bench-rss: missing $f" >&2; exit 2; }
done
exec /usr/bin/python3 - <<'PY'
import atexit, glob, math, os, shutil, signal, subprocess, sys, tempfile, time

preload = os.environ["BENCH_PRELOAD"]
workload = os.environ["BENCH_WORKLOAD"]
try:
    duration = int(os.environ["DURATION"])
    every = int(os.environ["EVERY"])
    rates = [int(r) for r in os.environ["RATES"].split()]
except ValueError:
    sys.exit("bench-rss: DURATION and EVERY must be whole seconds, RATES whole numbers of bytes")
threads = os.environ["THREADS"]
if duration < 1 or every < 1 or any(r < 1 for r in rates):
    sys.exit("bench-rss: DURATION, EVERY and every rate must be positive")
tmp = tempfile.mkdtemp(prefix="bench-rss.")
atexit.register(shutil.rmtree, tmp, True)  # on every exit, errors included
# More operations than any run gets through: each process is ended at the end.
ops = str(10**12)

jemalloc = None
if os.environ["JEMALLOC"] == "1":
    for pat in ("/usr/lib/x86_64-linux-gnu/libjemalloc.so.2", "/usr/lib/*/libjemalloc.so*"):
        found = sorted(glob.glob(pat))
        if found:
            jemalloc = found[0]
            break

# name -> (environment, the name it is compared against)
configs = {"none": ({}, None)}
for r in rates:
    configs[f"syncscope@{r}"] = ({"LD_PRELOAD": preload, "SYNCSCOPE_PROFILE_RATE": str(r),
                                  "SYNCSCOPE_PROFILE_OUT": os.path.join(tmp, f"heap-{r}.%p.pb.gz")}, "none")
if jemalloc:
    configs["jemalloc"] = ({"LD_PRELOAD": jemalloc}, None)
    for r in rates:
        lg = round(math.log2(r))
        configs[f"jemalloc-prof@{r}"] = ({"LD_PRELOAD": jemalloc,
                                          "MALLOC_CONF": f"prof:true,lg_prof_sample:{lg}"}, "jemalloc")

RSS, ANON = 0, 1  # the two fields of a reading

def delta(reading, name, field):
    """KiB of `field` that configuration `name` has above its base in one reading."""
    return reading[name][field] - reading[configs[name][1]][field]

def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0

procs = {}
try:
    for name, (env, _) in configs.items():
        e = dict(os.environ)
        e.update(env)
        procs[name] = subprocess.Popen([workload, threads, ops], env=e, stdout=subprocess.DEVNULL)
    compared = [n for n, (_, base) in configs.items() if base]
    print(f"# {duration} s, a reading every {every} s; RSS and RssAnon differences in KiB against "
          "the base each names (syncscope: no preload; jemalloc's profiler: plain jemalloc)")
    print("t_s " + " ".join(f"{n}:rss {n}:anon" for n in compared), flush=True)
    readings = []  # (t, {name: (rss, anon)})
    start = time.monotonic()
    t = 0
    while t <= duration:
        time.sleep(max(0.0, start + t - time.monotonic()))
        for name, p in procs.items():
            if p.poll() is not None:
                sys.exit(f"bench-rss: {name} exited early ({p.returncode})")
        now = {n: (status_kib(p.pid, "VmRSS"), status_kib(p.pid, "RssAnon")) for n, p in procs.items()}
        readings.append((t, now))
        print(f"{t} " + " ".join(f"{delta(now, n, RSS)} {delta(now, n, ANON)}" for n in compared), flush=True)
        t += every

    # Profiles of the syncscope processes, then the bounds on n.
    for r in rates:
        procs[f"syncscope@{r}"].send_signal(signal.SIGUSR2)
    deadline = time.monotonic() + 30
    sums = {}
    for r in rates:
        pid = procs[f"syncscope@{r}"].pid
        path = os.path.join(tmp, f"heap-{r}.{pid}.pb.gz")
        while not os.path.exists(path) and time.monotonic() < deadline:
            time.sleep(0.2)
        if not os.path.exists(path) or not shutil.which("go"):
            continue
        raw = subprocess.run(["go", "tool", "pprof", "-raw", path], capture_output=True, text=True)
        inuse = 0
        blocks = 0.0
        in_samples = False
        for line in raw.stdout.splitlines():
            if line.startswith("Samples:"):
                in_samples = True
                continue
            if in_samples and line[:1] != " " and not line.startswith("alloc_objects"):
                in_samples = False
            if in_samples and ":" in line and line.strip()[:1].isdigit():
                # alloc_objects alloc_space inuse_objects inuse_space
                values = [int(v) for v in line.split(":")[0].split()]
                inuse += values[3]
                if values[2] > 0:
                    blocks += values[2] * -math.expm1(-values[3] / values[2] / r)
        sums[r] = (blocks, inuse)
finally:
    for p in procs.values():
        if p.poll() is None:
            p.kill()
            p.wait()

first_steady = next((i for i, (t, _) in enumerate(readings) if t >= 60), 0)
print("\n# summary: the difference at the first reading from 60 s on and at the last, KiB")
(t0, steady), (t1, last) = readings[first_steady], readings[-1]
for n in compared:
    print(f"{n}: RSS {delta(steady, n, RSS):+d} -> {delta(last, n, RSS):+d} (t = {t0} -> {t1} s), "
          f"RssAnon {delta(steady, n, ANON):+d} -> {delta(last, n, ANON):+d}")
for r, (n, inuse) in sums.items():
    d = delta(last, f"syncscope@{r}", RSS)
    budget = 2048 + 100 * n / 1024
    print(f"syncscope@{r}: about {n:.0f} sampled blocks live (at most {inuse / r:.0f}); "
          f"budget 2 MiB + 100 B * n = {budget:.0f} KiB; measured +{d} KiB")
PY
