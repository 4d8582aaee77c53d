#!/usr/bin/env bash
# The price of the preloaded heap profiler, as a new user sees it (issue 16):
# whole-process wall time and peak RSS of ordinary commands, each run without
# a preload and with libsyncscope_preload.so at its default settings, the
# configurations alternated A B A B within one run; medians and ratios
# against the run without a preload measured in that same run; CPU time
# (user + system) beside wall time, steadier on a shared machine. Columns for
# jemalloc (plain vs prof:true,lg_prof_sample:19) when libjemalloc is
# installed, and heaptrack when HEAPTRACK=1 and it is installed (slow).
#
# Usage: scripts/bench-cost.sh [BUILD_DIR]      (default: build)
#   needs BUILD_DIR/lib/libsyncscope_preload.so and, for the churn rows,
#   BUILD_DIR/bin/prof_churn_workload (-DSYNCSCOPE_BUILD_BENCH=ON).
# Env: REPS (rounds, default 7), SHORT_REPS (rounds of the per-process rows
#      ls, lsbig and pypass, default 101: a few ms each, and their cost is a
#      difference of about 1 ms that needs many rounds to resolve), ROWS (space-separated subset of
#      "churn2 churn1 gxx ls lsbig pypass pythreads python1 sort"), CHURN_OPS (per thread,
#      default 1000000), HEAPTRACK=1, PRELOAD (another preload object to
#      measure instead of BUILD_DIR's), OLD_PRELOAD (a second preload object,
#      e.g. an older build, measured in the same rounds as "syncscope-old"),
#      PYTHON (default /usr/bin/python3), AA (1, the default: a second
#      configuration without a preload, "none-again", runs in every round
#      too, and its paired ratio against "none" is the noise floor of each
#      row on this machine; 0: not), ENV_PAD (1, the default: every
#      configuration's command gets the same environment size; 0: not),
#      JEMALLOC (1, the default: the jemalloc columns when it is installed;
#      0: not, so that more rounds fit in the same time), FORWARD (1: one
#      more configuration, "forward-only", a preloaded object compiled here
#      whose malloc, free, calloc and realloc only call glibc's: the price of
#      interposing those functions at all, the floor under any preloaded
#      profiler; 0, the default: not), SVG (a path: also draws the paired
#      ratios of the timed rows, with their intervals and the 1.03x line,
#      as an SVG picture there), NOSAMPLE (1: one more configuration,
#      "syncscope-nosample", the same preload with sampling off
#      (SYNCSCOPE_PROFILE_RATE=2^40): the interposers' fast path and byte
#      counters alone, so that the sampling's share is the difference; 0, the
#      default: not), INSTRUCTIONS (N > 0: after the timed rounds, each row
#      runs N more times per configuration under valgrind's cachegrind,
#      children included, and a second table gives the median instructions
#      and first-level data cache misses against "none", with the range over
#      the N runs: counts that do not drift with the machine's load, where
#      wall time on a shared machine does; needs valgrind; 0, the default:
#      not).
# Progress goes to stderr: one line per row as it starts, and every 10 rounds.
set -euo pipefail
build=${1:-build}
export BENCH_PRELOAD=${PRELOAD:-$(realpath "$build/lib/libsyncscope_preload.so")}
export BENCH_BIN=$(realpath "$build/bin")
export REPS=${REPS:-7}
export SHORT_REPS=${SHORT_REPS:-101}
export ROWS=${ROWS:-"churn2 churn1 gxx ls lsbig pypass pythreads python1 sort"}
export CHURN_OPS=${CHURN_OPS:-1000000}
export HEAPTRACK=${HEAPTRACK:-0}
export OLD_PRELOAD=${OLD_PRELOAD:-}
export BENCH_PYTHON=${PYTHON:-/usr/bin/python3}
export AA=${AA:-1}
export JEMALLOC=${JEMALLOC:-1}
export FORWARD=${FORWARD:-0}
export SVG=${SVG:-}
export NOSAMPLE=${NOSAMPLE:-0}
export INSTRUCTIONS=${INSTRUCTIONS:-0}
[ -e "$BENCH_PRELOAD" ] || { echo "missing $BENCH_PRELOAD" >&2; exit 2; }
exec "$BENCH_PYTHON" - <<'PY'
import atexit, glob, os, random, re, shutil, statistics, subprocess, sys, tempfile, time

preload = os.environ["BENCH_PRELOAD"]
binary = os.environ["BENCH_BIN"]
reps = int(os.environ["REPS"])
short_reps = int(os.environ["SHORT_REPS"])
short_rows = ("ls", "lsbig", "pypass")
rows = os.environ["ROWS"].split()
ops = os.environ["CHURN_OPS"]
python = os.environ["BENCH_PYTHON"]
tmp = tempfile.mkdtemp(prefix="bench-cost.")
atexit.register(shutil.rmtree, tmp, True)  # on every exit, errors included

def find_jemalloc():
    for pat in ("/usr/lib/x86_64-linux-gnu/libjemalloc.so.2", "/usr/lib/*/libjemalloc.so*",
                "/usr/lib64/libjemalloc.so*", "/usr/local/lib/libjemalloc.so*"):
        hits = sorted(glob.glob(pat))
        if hits:
            return hits[0]
    return None

jemalloc = find_jemalloc() if os.environ["JEMALLOC"] == "1" else None
gnu_time = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
rss_file = os.path.join(tmp, "rss")
heaptrack = shutil.which("heaptrack") if os.environ["HEAPTRACK"] == "1" else None

# Inputs of the rows.
cxx_file = os.path.join(tmp, "unit.cc")
with open(cxx_file, "w") as f:
    f.write("#include <map>\n#include <string>\n#include <vector>\n#include <algorithm>\n"
            "struct Item { std::string name; int weight; };\n"
            "static bool lighter(const Item& a, const Item& b) { return a.weight < b.weight; }\n"
            "std::map<std::string, int> tally(const std::vector<Item>& items) {\n"
            "  std::map<std::string, int> out;\n"
            "  for (const Item& i : items) out[i.name] += i.weight;\n"
            "  return out;\n}\n"
            "std::vector<Item> sorted(std::vector<Item> items) {\n"
            "  std::sort(items.begin(), items.end(), lighter);\n"
            "  return items;\n}\n"
            "int heaviest(const std::vector<Item>& items) {\n"
            "  int best = 0;\n"
            "  for (const Item& i : items) best = std::max(best, i.weight);\n"
            "  return best;\n}\n"
            "std::string names(const std::vector<Item>& items) {\n"
            "  std::string s;\n"
            "  for (const Item& i : items) { s += i.name; s += ','; }\n"
            "  return s;\n}\n"
            "int main() {\n"
            "  std::vector<Item> v{{\"a\", 3}, {\"b\", 1}, {\"a\", 2}};\n"
            "  auto t = tally(sorted(v));\n"
            "  return heaviest(v) + static_cast<int>(t.size() + names(v).size());\n}\n")
sort_input = os.path.join(tmp, "numbers.txt")
if "sort" in rows:
    import random
    rnd = random.Random(16)
    with open(sort_input, "w") as f:
        f.write("\n".join(str(rnd.randrange(10**9)) for _ in range(2 * 10**6)))
        f.write("\n")
py_threads = ("import threading\n"
              "def work(seed):\n"
              "    keep = [None] * 4096\n"
              "    for i in range(400000):\n"
              "        keep[(i * 2654435761 + seed) % 4096] = bytearray(1024 + (i * 7919) % 1024)\n"
              "ts = [threading.Thread(target=work, args=(s,)) for s in (1, 2)]\n"
              "[t.start() for t in ts]; [t.join() for t in ts]\n")
# The same loop in one thread, as many objects in all: without the GIL
# handing the interpreter between two threads, the steadier of the two
# python rows (docs/prof.md, "Python's cost counted, one thread").
py_one_thread = py_threads.replace("for s in (1, 2)", "for s in (1,)").replace("range(400000)", "range(800000)")
assert "for s in (1,)" in py_one_thread and "range(800000)" in py_one_thread

# row -> (label in the tables, label in the picture, command)
commands = {
    "churn2":    ("C++ churn (strings + hash map), 2 threads", "C++ churn, 2 threads",
                  [f"{binary}/prof_churn_workload", "2", ops]),
    "churn1":    ("C++ churn, 1 thread", "C++ churn, 1 thread", [f"{binary}/prof_churn_workload", "1", ops]),
    "gxx":       ("g++ -O1 -c of a 30-line C++ file", "g++ -O1 -c",
                  ["g++", "-O1", "-c", cxx_file, "-o", os.path.join(tmp, "unit.o")]),
    "ls":        ("ls (a small directory)", "ls", ["ls", tmp]),
    "lsbig":     ("ls /usr/bin (allocates past one sampling period)", "ls /usr/bin", ["ls", "/usr/bin"]),
    "pypass":    ("python3 -c pass", "python3 -c pass", [python, "-c", "pass"]),
    "pythreads": ("python3, 2 threads allocating 1-2 KiB objects", "python3, 2 threads", [python, "-c", py_threads]),
    "python1":   ("python3, 1 thread allocating 1-2 KiB objects", "python3, 1 thread", [python, "-c", py_one_thread]),
    "sort":      ("sort --parallel=2 -n, 2*10^6 lines", "sort --parallel=2 -n",
                  ["sort", "--parallel=2", "-n", "-S", "64M", "-T", tmp, sort_input]),
}

unknown = [r for r in rows if r not in commands]
if unknown:
    sys.exit(f"bench-cost: unknown row(s) {' '.join(unknown)} in ROWS; the rows are: {' '.join(commands)}")

# Configurations: name -> extra environment (None: not available).
configs = {"none": {}}
if os.environ["AA"] == "1":
    configs["none-again"] = {}  # the same command again: an A/A control
configs["syncscope"] = {"LD_PRELOAD": preload,
                        "SYNCSCOPE_PROFILE_OUT": os.path.join(tmp, "heap.%p.pb.gz")}
if os.environ["OLD_PRELOAD"]:
    configs["syncscope-old"] = {"LD_PRELOAD": os.environ["OLD_PRELOAD"],
                                "SYNCSCOPE_PROFILE_OUT": os.path.join(tmp, "heap-old.%p.pb.gz")}
if os.environ["NOSAMPLE"] == "1":
    configs["syncscope-nosample"] = {"LD_PRELOAD": preload,
                                     "SYNCSCOPE_PROFILE_OUT": os.path.join(tmp, "heap-nosample.%p.pb.gz"),
                                     "SYNCSCOPE_PROFILE_RATE": str(1 << 40)}
if os.environ["FORWARD"] == "1":
    # The interposition floor: the same symbols a preloaded profiler takes
    # over for C allocations, each a plain call into glibc (C++'s operator
    # new and delete reach them through libstdc++).
    forward_c = os.path.join(tmp, "forward.c")
    with open(forward_c, "w") as f:
        f.write("#include <stddef.h>\n"
                "void* __libc_malloc(size_t); void __libc_free(void*);\n"
                "void* __libc_calloc(size_t, size_t); void* __libc_realloc(void*, size_t);\n"
                "void* malloc(size_t n) { return __libc_malloc(n); }\n"
                "void free(void* p) { __libc_free(p); }\n"
                "void* calloc(size_t n, size_t s) { return __libc_calloc(n, s); }\n"
                "void* realloc(void* p, size_t n) { return __libc_realloc(p, n); }\n")
    forward_so = os.path.join(tmp, "forward.so")
    built = subprocess.run(["cc", "-O2", "-shared", "-fPIC", forward_c, "-o", forward_so],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if built.returncode != 0:
        sys.exit(f"bench-cost: FORWARD=1 needs a C compiler (cc): {built.stderr.strip()}")
    configs["forward-only"] = {"LD_PRELOAD": forward_so}
if jemalloc:
    configs["jemalloc"] = {"LD_PRELOAD": jemalloc}
    configs["jemalloc-prof"] = {"LD_PRELOAD": jemalloc,
                                "MALLOC_CONF": f"prof:true,lg_prof_sample:19,prof_prefix:{tmp}/jeprof"}
if heaptrack:
    configs["heaptrack"] = "heaptrack"

# Every configuration's command starts with the same number of environment
# bytes: the variables a configuration sets are padded with BENCH_ENV_PAD to
# the longest set's size. The environment sits at the top of the initial
# stack, so its size moves every stack address of the measured process, and
# that alone can move an interpreter's time by a few per cent (Mytkowicz et
# al., "Producing wrong data without doing anything obviously wrong!",
# ASPLOS 2009). ENV_PAD=0 turns the padding off.
def env_bytes(extra):
    return sum(len(k) + len(v) + 2 for k, v in extra.items())
pad_env = os.environ.get("ENV_PAD", "1") != "0"
env_target = max(env_bytes(e) for e in configs.values() if isinstance(e, dict)) + len("BENCH_ENV_PAD=") + 2

def padded(extra):
    if not pad_env:
        return extra
    out = dict(extra)
    out["BENCH_ENV_PAD"] = "x" * (env_target - env_bytes(extra) - len("BENCH_ENV_PAD") - 2)
    return out

# Python's string hashes are seeded at random per process, and the seed
# alone moves the two-thread row by tens of per cent (median 445 ms over
# random seeds, 525 ms with PYTHONHASHSEED=0, the same command otherwise):
# noise that no number of rounds at 3 % resolution averages out cheaply.
# Every run of a round gets the same seed, the round's number, so a round's
# configurations run the same interpreter work and the rounds still cover
# many seeds. Commands other than python ignore the variable.
# This script's environment for one measured command, without the variables
# a configuration sets, and with python's hash seed.
def command_env(seed):
    env = dict(os.environ)
    env["PYTHONHASHSEED"] = str(seed)
    for k in ("LD_PRELOAD", "MALLOC_CONF", "BENCH_ENV_PAD"):
        env.pop(k, None)
    return env

def run_once(argv, extra, round_seed):
    env = command_env(round_seed)
    if extra == "heaptrack":
        argv = [heaptrack, "-o", os.path.join(tmp, "ht")] + argv
        extra = {}
    # The variables reach only the measured command: GNU time runs it
    # through env(1), so the time wrapper itself is never preloaded.
    argv = ["env"] + [f"{k}={v}" for k, v in padded(extra).items()] + argv
    # Peak RSS through GNU time: Linux keeps a process's maxrss across exec, so
    # a child forked from this Python would report at least Python's own.
    if gnu_time:
        argv = [gnu_time, "-f", "%M", "-o", rss_file] + argv
    # The previous run's files (a profile, an object file) go to disk now,
    # not during this run.
    os.sync()
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    if status != 0:
        sys.exit(f"bench-cost: {argv[0]} exited with status {status} under {extra}")
    kib = int(open(rss_file).read().split()[-1]) if gnu_time else ru.ru_maxrss
    # CPU time of the command (wait4's rusage of GNU time includes the child it
    # reaped): steadier than wall time on a machine shared with other work.
    cpu = ru.ru_utime + ru.ru_stime
    return wall, kib / 1024.0, cpu  # seconds, MiB, seconds

# Instructions and first-level data cache misses of one run of argv under
# `extra`, counted by valgrind's cachegrind over the command and every
# process it starts (g++ runs cc1plus and as). Deterministic for a given
# program and input, up to thread interleaving, so a small difference is
# visible in one run where wall time needs a hundred rounds.
count_seed = 1
def count_once(argv, extra):
    env = command_env(count_seed)
    env.update(padded(extra))
    cmd = [valgrind, "--tool=cachegrind", "--cache-sim=yes", "--trace-children=yes",
           f"--cachegrind-out-file={os.path.join(tmp, 'cachegrind.%p')}"] + argv
    done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        sys.exit(f"bench-cost: {argv[0]} exited with status {done.returncode} under valgrind with {extra}:\n"
                 + done.stderr[-2000:])
    def total(field):
        # "==PID== I   refs:      2,511,014,058" (one line per process)
        pattern = re.compile(r"^==\d+== " + field + r":\s+([\d,]+)", re.M)
        found = pattern.findall(done.stderr)
        if not found:
            sys.exit(f"bench-cost: no '{field}' in valgrind's report for {argv[0]}:\n" + done.stderr[-2000:])
        return sum(int(v.replace(",", "")) for v in found)
    for f in glob.glob(os.path.join(tmp, "cachegrind.*")):
        os.unlink(f)
    return total(r"I\s+refs"), total(r"D1\s+misses")

counted_runs = int(os.environ["INSTRUCTIONS"]) if os.environ["INSTRUCTIONS"].isdigit() else -1
if counted_runs < 0:
    sys.exit(f"bench-cost: INSTRUCTIONS must be a number of runs (0: none), not {os.environ['INSTRUCTIONS']!r}")
valgrind = None
if counted_runs > 0:
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        sys.exit(f"bench-cost: INSTRUCTIONS={counted_runs} needs valgrind (scripts/install-deps.sh installs it)")
counted = [c for c in configs if isinstance(configs[c], dict) and c != "none-again"]

print(f"bench-cost: {reps} rounds ({short_reps} for {', '.join(short_rows)}), every configuration once "
      "per round in a shuffled order; medians, and paired per-round comparisons with 95% intervals", flush=True)
print(f"  preload   {preload}")
if os.environ["OLD_PRELOAD"]:
    print(f"  old       {os.environ['OLD_PRELOAD']}")
print(f"  jemalloc  {jemalloc or ('not installed' if os.environ['JEMALLOC'] == '1' else 'JEMALLOC=0') + ' (no jemalloc columns)'}")
print(f"  RSS       {'/usr/bin/time %M' if gnu_time else 'wait4 (includes this Python: install GNU time)'}")
print(f"  ncpu      {os.cpu_count()}")
print(f"  env       {'padded to ' + str(env_target) + ' bytes of variables in every configuration' if pad_env else 'not padded (ENV_PAD=0)'}")
if not os.access(f"{binary}/prof_churn_workload", os.X_OK):
    print(f"  (no {binary}/prof_churn_workload: churn rows skipped; build with -DSYNCSCOPE_BUILD_BENCH=ON)")
    rows = [r for r in rows if not r.startswith("churn")]
results = {}
for row in rows:
    label, _, argv = commands[row]
    run_once(argv, {}, 0)  # warm the page cache
    samples = {c: [] for c in configs}
    # The order within a round is a fresh shuffle (from one generator with
    # a fixed seed per row, so a run can be repeated): every configuration
    # runs in every position, and after every other one, equally often on
    # average. With a fixed order the second of two identical
    # configurations (AA) ran 4.5 % faster than the first on python's
    # two-thread row (21 rounds); with
    # the order only rotated, "none" always ran right after "syncscope" or
    # "none-again", and the control came out at 0.968x [0.953, 0.997] over
    # 200 rounds: something one run leaves behind slows the next (the
    # profile it writes is one candidate, not isolated).
    names = list(configs)
    order = random.Random(2027)
    rounds = short_reps if row in short_rows else reps
    started = time.monotonic()
    print(f"bench-cost: {row}: {rounds} rounds of {len(names)} configurations", file=sys.stderr, flush=True)
    for r in range(rounds):
        if r and r % 10 == 0:
            left = (time.monotonic() - started) / r * (rounds - r)
            print(f"bench-cost: {row}: round {r}/{rounds}, about {left:.0f} s left", file=sys.stderr, flush=True)
        round_order = names[:]
        order.shuffle(round_order)
        for c in round_order:
            samples[c].append(run_once(argv, configs[c], r + 1))
    results[row] = samples

def med(xs):
    return statistics.median(xs)

# What a configuration is compared against: jemalloc's profiler against
# plain jemalloc, everything else against the run without a preload.
def base_of(c):
    return "jemalloc" if c == "jemalloc-prof" else "none"

hdr = (f"{'row':<10} {'config':<19} {'wall ms':>9} {'ratio':>7} {'cpu ms':>9} {'ratio':>7} "
       f"{'RSS MiB':>8} {'+RSS MiB':>9}  vs")
print(hdr)
for row in rows:
    s = results[row]
    for c in configs:
        base = base_of(c)
        w = med([x[0] for x in s[c]]); r = med([x[1] for x in s[c]]); u = med([x[2] for x in s[c]])
        bw = med([x[0] for x in s[base]]); br = med([x[1] for x in s[base]]); bu = med([x[2] for x in s[base]])
        print(f"{row:<10} {c:<19} {w*1e3:9.1f} {w/bw:7.3f} {u*1e3:9.1f} {u/bu if bu else 0:7.3f} "
              f"{r:8.1f} {r-br:+9.1f}  {base}")
# Paired comparisons: each round ran every configuration once, back to back,
# so a round's difference (or ratio) cancels what drifted between rounds.
# The median of those, with a distribution-free 95% confidence interval from
# order statistics (the normal approximation to the binomial: ranks
# n/2 -+ 0.98 sqrt(n)); with fewer than 6 rounds the interval is the range.
def median_ci(xs):
    xs = sorted(xs)
    n = len(xs)
    k = max(0, int(n / 2 - 0.98 * n ** 0.5))
    return statistics.median(xs), xs[k], xs[min(n - 1, n - 1 - k)]

def paired(row, c, base, i, ratio):
    a = [x[i] for x in results[row][c]]
    b = [x[i] for x in results[row][base]]
    return median_ci([(x / y if y else 0.0) if ratio else 1e3 * (x - y) for x, y in zip(a, b)])

print("paired per round (median [95% interval]); ratio rows: wall ratio, per-process rows: extra ms:")
for row in rows:
    for c in configs:
        if c in ("none", "jemalloc"):
            continue
        base = base_of(c)
        short = row in short_rows
        m, lo, hi = paired(row, c, base, 0, not short)
        mc, loc, hic = paired(row, c, base, 2, not short)
        unit = " ms" if short else "x"
        fmt = "{:+.2f}" if short else "{:.3f}"
        print(f"  {row:<10} {c:<19} wall {fmt.format(m)}{unit} [{fmt.format(lo)}, {fmt.format(hi)}]"
              f"   cpu {fmt.format(mc)}{unit} [{fmt.format(loc)}, {fmt.format(hic)}]  vs {base}, "
              f"{len(results[row][c])} rounds")

if valgrind:
    # (row, config) -> [(instructions, D1 misses)] of its counted runs; the
    # configurations alternate from run to run as in the timed rounds.
    counts = {}
    for row in rows:
        for run in range(counted_runs):
            for c in counted:
                print(f"bench-cost: {row}: counting {c} under valgrind, run {run + 1}/{counted_runs}",
                      file=sys.stderr, flush=True)
                counts.setdefault((row, c), []).append(count_once(commands[row][2], configs[c]))
    print(f"counted under valgrind (cachegrind, children included, PYTHONHASHSEED={count_seed}), "
          f"median of {counted_runs} run(s) with the range; ratios against the median without a preload "
          "(jemalloc prof: against plain jemalloc):")
    print(f"{'row':<10} {'config':<19} {'instructions':>15} {'ratio':>7} {'range':>15} "
          f"{'D1 misses':>13} {'ratio':>7}")
    for row in rows:
        for c in counted:
            runs = counts[(row, c)]
            ins = med([r[0] for r in runs]); miss = med([r[1] for r in runs])
            bins = med([r[0] for r in counts[(row, base_of(c))]])
            bmiss = med([r[1] for r in counts[(row, base_of(c))]])
            spread = f"{min(r[0] for r in runs) / bins:.4f}-{max(r[0] for r in runs) / bins:.4f}"
            print(f"{row:<10} {c:<19} {ins:15,.0f} {ins / bins:7.4f} {spread:>15} "
                  f"{miss:13,.0f} {miss / bmiss if bmiss else 0:7.4f}")

# The picture: one band per timed row, one line per configuration compared
# (the median per-round ratio as a dot, its 95% interval as a bar), against
# the lines at 1.00x and 1.03x. The per-process rows are differences in ms,
# not ratios, and stay in the tables.
def draw_svg(path):
    timed = [r for r in rows if r not in short_rows]
    shown = [c for c in configs if c not in ("none", "jemalloc")]
    colors = {"syncscope": "#1f6fb2", "none-again": "#888888", "forward-only": "#2e9d5b",
              "jemalloc-prof": "#c2571a", "syncscope-old": "#7a4fb0", "heaptrack": "#b23a3a",
              "syncscope-nosample": "#6fa8dc"}
    cells = {(r, c): paired(r, c, base_of(c), 0, True)
             for r in timed for c in shown}
    lo = min(0.95, min(v[1] for v in cells.values()) - 0.01)
    hi = max(1.10, max(v[2] for v in cells.values()) + 0.01)
    left, right, line_h, top = 250, 680, 16, 52
    band_h = line_h * len(shown) + 14
    height = top + band_h * len(timed) + 36 + line_h * len(shown)
    x = lambda v: left + (v - lo) / (hi - lo) * (right - left)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{right + 40}" height="{height}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="100%" height="100%" fill="white"/>',
           f'<text x="8" y="16">Wall time against the same command without a preload '
           f'(jemalloc prof: against plain jemalloc), {reps} rounds</text>',
           f'<text x="8" y="30" fill="#555555">median of the per-round ratios (dot) and its 95% interval (bar)</text>']
    bottom = top + band_h * len(timed)
    tick = round(lo * 20 + 0.4999) / 20
    while tick <= hi:
        out.append(f'<line x1="{x(tick):.1f}" y1="{bottom}" x2="{x(tick):.1f}" y2="{bottom + 4}" stroke="black"/>'
                   f'<text x="{x(tick):.1f}" y="{bottom + 16}" text-anchor="middle">{tick:.2f}x</text>')
        tick = round(tick * 20 + 1) / 20
    out.append(f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="black"/>')
    for v, dash in ((1.00, "none"), (1.03, "4 3")):
        out.append(f'<line x1="{x(v):.1f}" y1="{top - 4}" x2="{x(v):.1f}" y2="{bottom}" '
                   f'stroke="black" stroke-dasharray="{dash}"/>')
    out.append(f'<text x="{x(1.03) + 3:.1f}" y="{top - 2}" font-size="11">1.03x</text>')
    for i, r in enumerate(timed):
        y0 = top + i * band_h
        out.append(f'<text x="8" y="{y0 + band_h / 2 + 4:.1f}">{commands[r][1]}</text>')
        for j, c in enumerate(shown):
            m, a, b = cells[(r, c)]
            y = y0 + 7 + j * line_h + line_h / 2
            col = colors.get(c, "black")
            out.append(f'<line x1="{x(a):.1f}" y1="{y:.1f}" x2="{x(b):.1f}" y2="{y:.1f}" stroke="{col}" stroke-width="2"/>')
            out.append(f'<circle cx="{x(m):.1f}" cy="{y:.1f}" r="3.5" fill="{col}"><title>{r} {c}: '
                       f'{m:.3f}x [{a:.3f}, {b:.3f}]</title></circle>')
        out.append(f'<line x1="8" y1="{y0 + band_h:.1f}" x2="{right + 30}" y2="{y0 + band_h:.1f}" stroke="#dddddd"/>')
    ly = top + band_h * len(timed) + 36
    for j, c in enumerate(shown):
        col = colors.get(c, "black")
        label = {"none-again": "A/A control (no preload, again)",
                 "jemalloc-prof": "jemalloc prof vs plain jemalloc"}.get(c, c)
        out.append(f'<circle cx="{left + 6}" cy="{ly + j * line_h - 4}" r="3.5" fill="{col}"/>'
                   f'<text x="{left + 16}" y="{ly + j * line_h}">{label}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
    print(f"picture: {path}")

if os.environ["SVG"]:
    draw_svg(os.environ["SVG"])
PY
