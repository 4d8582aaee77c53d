// Plain data shared by the lab's scenarios, diagnosis, detector and report
// writers. Everything here is measured at run time; nothing is per-scenario.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace syncscope::lab {

using Clock = std::chrono::steady_clock;

// One heap measurement: seconds since the scenario started, live bytes.
struct HeapSample {
  double t_s = 0;
  std::uint64_t live_bytes = 0;
};

// An allocation site with a byte (and object) figure: live bytes for the top
// sites, bytes gained for the sites that grew.
struct SiteBytes {
  std::string site;        // "function file:line" of the innermost user frame
  std::int64_t bytes = 0;
  std::int64_t objects = 0;
};

// Resident tasks of one spawn site (DESIGN §6 verdict.json resident_tasks).
struct ResidentGroup {
  std::string spawn_site;       // "file:line function"
  std::string name;             // task name of the oldest one
  std::size_t count = 0;
  std::string blocking_reason;  // most frequent reason; "" = running/queued
  double oldest_age_s = 0;
};

// One hop of a retention path (DESIGN §6 verdict.json retention_path).
struct Hop {
  std::string kind;          // "root" or "block"
  std::string site;          // root: what it is; block: its allocation site
  std::uint64_t offset = 0;  // where the pointer to the next hop sits
  std::uint64_t size = 0;
};

// A "leak suspect": an allocation site by retained size.
struct Retainer {
  std::string site;
  std::uint64_t retained_bytes = 0;
  std::uint64_t retained_objects = 0;
};

// A task nothing can ever wake (from the retention scan).
struct LeakedTaskInfo {
  std::string name;
  std::string spawn_site;
  std::string blocking_reason;
  double age_s = 0;
};

// A thread inside the epoch domain's read-side protection.
struct PinnedReaderInfo {
  int tid = 0;
  std::string thread_name;
  double pinned_for_s = 0;
  std::uint64_t epoch_lag = 0;
  std::uint64_t held_back_objects = 0;
  std::uint64_t held_back_bytes = 0;
};

// Everything the lab measured about one scenario run.
struct Diagnosis {
  std::vector<HeapSample> heap;       // every 100 ms
  std::string heap_source;            // which counter the samples come from
  double warmup_s = 0;                // samples before this are not judged
  std::vector<SiteBytes> top_sites;   // by live bytes, at the end
  std::vector<SiteBytes> grown_sites; // live bytes gained since warm-up
  std::vector<ResidentGroup> resident;    // tasks older than the resident threshold
  double resident_threshold_s = 0;
  std::vector<Hop> retention_path;    // root first
  std::string retention_block_source; // where the scan's blocks came from ("glibc heap walk", ...)
  std::string retention_target;       // site of the path's last hop
  std::string retention_root_task;    // task running on the path's root thread, if any
  std::string retention_root_task_site;
  std::uint64_t retention_target_retained = 0;
  std::vector<Retainer> retainers;
  std::vector<LeakedTaskInfo> leaked_tasks;
  std::vector<PinnedReaderInfo> pinned_readers;  // pinned longer than 0.5 s
  std::uint64_t backlog_objects = 0;  // the scenario map's retired, unfreed
  std::uint64_t backlog_bytes = 0;
  std::string workload_summary;       // what the workload did (counts)
  std::vector<std::string> unavailable;  // diagnosis steps whose part is not built
  std::vector<std::string> notes;        // steps that ran but failed, with why
};

// The detector's conclusion.
struct Verdict {
  bool leak = false;
  std::string cause;               // one sentence
  std::uint64_t live_bytes_start = 0;  // median of the first post-warm-up window
  std::uint64_t live_bytes_end = 0;    // median of the last window
  double slope_bytes_per_s = 0;        // least squares over the judged samples
  std::int64_t growth_bytes = 0;       // end - start
  std::uint64_t tolerance_bytes = 0;   // growth below this is "flat"
};

}  // namespace syncscope::lab
