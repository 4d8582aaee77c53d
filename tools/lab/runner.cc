#include "runner.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <thread>

#include "absl/strings/str_format.h"
#include "detector.h"
#include "diagnosis.h"
#include "heap_sampler.h"
#include "heap_source.h"
#include "output_dir.h"
#include "syncscope/prof/atomic_file.h"

#include "syncscope/task/goroutine_profile.h"
#include "syncscope/task/trace.h"

namespace syncscope::lab {
namespace {

void progress(int index, int total, const std::string& name, const std::string& what) {
  std::fprintf(stderr, "%s[lab %d/%d] %s: %s\n", isatty(2) ? "\r\033[K" : "", index, total, name.c_str(),
               what.c_str());
}

bool write_text(const std::string& path, const std::string& text) {
  return syncscope::prof::write_file_atomically(path, text).ok();
}

// SYNCSCOPE_LAB_SKIP=retain,goroutine,trace,heap turns diagnosis steps off
// (to isolate a misbehaving part); skipped steps are reported as such.
bool skipped(const char* step) {
  const char* env = std::getenv("SYNCSCOPE_LAB_SKIP");
  return env != nullptr && std::strstr(env, step) != nullptr;
}

void start_trace() {
  syncscope::task::stop_tracing();
  syncscope::task::clear_trace();
  syncscope::task::TraceConfig c;
  c.events_per_thread = 4096;
  c.max_exited_threads = 64;
  syncscope::task::start_tracing(c);
}

// The profile files, taken while the workload still runs.
void write_profiles(const StagedDir& dir, const RetentionProbe& probe, ScenarioResult& r) {
  absl::Status written;
  if (skipped("heap")) {
    r.skipped.emplace_back("heap.pb.gz", "skipped (SYNCSCOPE_LAB_SKIP)");
  } else if (written = heap::write_profile(dir.path("heap.pb.gz")); written.ok()) {
    r.files.push_back("heap.pb.gz");
  } else {
    r.skipped.emplace_back("heap.pb.gz", std::string(written.message()));
    r.diagnosis.unavailable.push_back("heap profile: " + std::string(written.message()));
  }
  if (skipped("goroutine")) {
    r.skipped.emplace_back("goroutine.pb.gz", "skipped (SYNCSCOPE_LAB_SKIP)");
  } else if (written = syncscope::task::write_goroutine_profile(dir.path("goroutine.pb.gz")); written.ok()) {
    r.files.push_back("goroutine.pb.gz");
  } else {
    r.skipped.emplace_back("goroutine.pb.gz", std::string(written.message()));
  }
  if (skipped("trace")) {
    r.skipped.emplace_back("trace.json", "skipped (SYNCSCOPE_LAB_SKIP)");
  } else if (written = syncscope::task::write_trace_snapshot(dir.path("trace.json")); written.ok()) {
    r.files.push_back("trace.json");
  } else {
    r.skipped.emplace_back("trace.json", std::string(written.message()));
  }
  if (probe.write_retention_profile(dir.path("retained.pb.gz")).ok()) {
    r.files.push_back("retained.pb.gz");
  }
}

void sleep_until(Clock::time_point t) {
  while (Clock::now() < t) std::this_thread::sleep_for(std::min<Clock::duration>(t - Clock::now(), std::chrono::milliseconds(50)));
}

}  // namespace

void stop_workload(std::unique_ptr<Workload> w) {
  if (!w) return;
  if (!w->stop()) {
    std::fprintf(stderr, "[lab] warning: some tasks did not finish within 5 s; leaving them running\n");
    (void)w.release();  // a task still refers to it
  }
}

namespace {

Clock::time_point after_seconds(Clock::time_point t0, double s) {
  return t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

// The measurements that need the workload still running.
void diagnose_running(Workload& w, RetentionProbe& probe, bool retain, const std::vector<SiteBytes>& sites_before,
                      Diagnosis& d) {
  diagnose_tasks(d, std::min(1.0, d.warmup_s));
  diagnose_pinned_readers(d, 0.5);
  const MapBacklog b = w.backlog();
  d.backlog_objects = b.objects;
  d.backlog_bytes = b.bytes;
  const std::vector<SiteBytes> sites_after = heap::top_sites(50);
  d.top_sites.assign(sites_after.begin(), sites_after.begin() + std::min<std::size_t>(10, sites_after.size()));
  if (!heap::have_profiles()) d.unavailable.push_back("top allocation sites (allocation hooks not installed)");
  if (retain) {
    probe.take_after(d);
  } else if (const char* crash = std::getenv("SYNCSCOPE_LAB_RETAIN_CRASHED"); crash != nullptr) {
    d.unavailable.push_back(std::string("retention path, grown sites and top retainers: the first run died from ") +
                            crash + " during diagnosis, so this rerun skipped the retention scan");
  } else {
    d.notes.push_back("retention step skipped (SYNCSCOPE_LAB_SKIP)");
  }
  if (d.grown_sites.empty()) d.grown_sites = heap::grown_sites(sites_before, sites_after, 10);
  d.workload_summary = w.summary();
}

// verdict.json, metrics.prom, report.html; then the folder goes into place
// and the terminal report is printed. "" or the reason it failed.
std::string publish(StagedDir& dir, const RunOptions& options, ScenarioResult& r) {
  r.files.insert(r.files.begin(), {"verdict.json", "metrics.prom", "report.html"});
  bool ok = write_text(dir.path("verdict.json"), verdict_json(r));
  ok = ok && write_text(dir.path("metrics.prom"), metrics_prom(r));
  ok = ok && write_text(dir.path("report.html"), report_html(r));
  if (!ok) return "cannot write the report files under " + options.out;
  if (!dir.commit()) return dir.error();
  std::string text = report_text(r);
  text += "files:\n";
  for (const auto& f : r.files) text += "  " + dir.final_path() + "/" + f + "\n";
  for (const auto& [f, why] : r.skipped) text += "  (" + f + " not written: " + why + ")\n";
  std::fputs(text.c_str(), stdout);
  std::fflush(stdout);
  return "";
}

}  // namespace

RunOutcome run_scenario(const ScenarioSpec& spec, const RunOptions& options, bool keep_running, int index,
                        int total) {
  RunOutcome out;
  ScenarioResult& r = out.result;
  r = {spec.name, spec.title, spec.story, options.seconds, {}, {}, {}, {}};
  Diagnosis& d = r.diagnosis;
  d.warmup_s = std::clamp(options.seconds * 0.4, std::min(1.0, options.seconds / 2), 2.5);
  d.heap_source = heap::source_name();
  StagedDir dir(options.out, spec.name);
  if (!dir.ok()) {
    out.error = dir.error();
    return out;
  }
  progress(index, total, spec.name, absl::StrFormat("running for %.1f s (warm-up %.1f s)", options.seconds, d.warmup_s));
  start_trace();
  std::unique_ptr<Workload> w = spec.make();
  // The baseline is taken before the workload starts, so the diagnosis's own
  // allocations (snapshot summaries, symbolizer caches) fall in the warm-up.
  RetentionProbe probe;
  const bool retain = !skipped("retain");
  std::vector<SiteBytes> sites_before;
  {
    const heap::OwnMemoryScope own;
    if (retain && !skipped("before")) probe.take_before(d);
    sites_before = heap::top_sites(50);
  }
  w->start();
  const Clock::time_point t0 = Clock::now();
  const bool tty = isatty(2) != 0;
  HeapSampler sampler([&](const HeapSample& s) {
    if (!tty) return;
    std::fprintf(stderr, "\r\033[K[lab %d/%d] %s: %.1f/%.1f s, live heap %s", index, total, spec.name.c_str(), s.t_s,
                 options.seconds, format_bytes(static_cast<double>(s.live_bytes)).c_str());
  });
  sleep_until(after_seconds(t0, options.seconds));

  progress(index, total, spec.name, "diagnosing (tasks, pinned readers, retention scan, profiles)");
  // The samples judged end here; the sampler keeps feeding the trace's
  // counter track (its thread's events must still be in the trace).
  std::vector<HeapSample> judged = sampler.samples();
  {
    const heap::OwnMemoryScope own;
    diagnose_running(*w, probe, retain, sites_before, d);
    write_profiles(dir, probe, r);
  }
  sampler.stop();
  d.heap = std::move(judged);
  r.verdict = judge(d);
  syncscope::task::stop_tracing();
  if (keep_running) {
    out.kept = std::move(w);
  } else {
    progress(index, total, spec.name, "stopping the workload (releasing waiting tasks)");
    stop_workload(std::move(w));
  }
  out.error = publish(dir, options, r);
  out.ok = out.error.empty();
  return out;
}

}  // namespace syncscope::lab
