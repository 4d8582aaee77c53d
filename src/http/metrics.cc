#include "http/metrics.h"

#include "http/router.h"

#include "http/process_stats.h"
#include "syncscope/http/prometheus_writer.h"
#include "http/responses.h"
#include "http/routes.h"
#include "http/sources.h"

namespace syncscope::http::internal {
namespace {

using Type = PrometheusWriter::Type;

void write_process(PrometheusWriter& w) {
  const ProcessStats p = read_process_stats();
  w.counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
            p.cpu_seconds);
  w.gauge("process_resident_memory_bytes", "Resident memory size in bytes.",
          static_cast<double>(p.resident_bytes));
  w.gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.",
          static_cast<double>(p.virtual_bytes));
  w.gauge("process_open_fds", "Number of open file descriptors.",
          static_cast<double>(p.open_fds));
  if (p.max_fds > 0) {
    w.gauge("process_max_fds", "Maximum number of open file descriptors.",
            static_cast<double>(p.max_fds));
  }
  w.gauge("process_threads", "Number of OS threads in the process.",
          static_cast<double>(p.threads));
  w.gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
          p.start_time_seconds);
}

void write_heap(PrometheusWriter& w) {
  absl::StatusOr<HeapFigures> h = heap_figures();
  if (!h.ok()) return;
  auto d = [](std::uint64_t v) { return static_cast<double>(v); };
  w.gauge("syncscope_heap_live_bytes", "Bytes in live heap blocks (usable sizes, as the allocation hooks saw them).",
          d(h->live_bytes));
  w.gauge("syncscope_heap_live_objects", "Live heap blocks.",
          d(h->live_objects));
  w.counter("syncscope_heap_allocated_bytes_total", "Bytes allocated since start (usable sizes).",
            d(h->allocated_bytes_total));
  w.counter("syncscope_heap_allocated_objects_total", "Blocks allocated since start.",
            d(h->allocated_objects_total));
  w.counter("syncscope_heap_freed_bytes_total", "Bytes freed since start (usable sizes).",
            d(h->freed_bytes_total));
  w.counter("syncscope_heap_freed_objects_total", "Blocks freed since start.",
            d(h->freed_objects_total));
  w.counter("syncscope_heap_samples_total", "Allocations recorded as profile samples.",
            d(h->samples_total));
  w.gauge("syncscope_heap_sample_rate_bytes", "Mean bytes between heap profile samples.",
          d(h->sample_rate_bytes));
}

void write_tasks(PrometheusWriter& w) {
  absl::StatusOr<TaskFigures> t = task_figures(kResidentAfterSeconds);
  if (!t.ok()) return;
  auto d = [](std::uint64_t v) { return static_cast<double>(v); };
  w.gauge("syncscope_tasks_live", "Tracked tasks alive now.", d(t->live));
  w.gauge("syncscope_tasks_resident", "Tracked tasks alive longer than 10 seconds.",
          d(t->resident));
  w.family("syncscope_tasks", Type::kGauge, "Tracked tasks alive now, by state.");
  w.sample({{"state", "queued"}}, d(t->queued));
  w.sample({{"state", "running"}}, d(t->running));
  w.sample({{"state", "blocked"}}, d(t->blocked));
  w.counter("syncscope_tasks_spawned_total", "Tasks spawned since start.", d(t->spawned_total));
}

// One family per MapStats field, one sample per registered map.
void write_maps(PrometheusWriter& w) {
  const std::vector<map::NamedMapStats> maps = map_figures();
  struct Field {
    const char* name;
    Type type;
    const char* help;
    double (*get)(const map::MapStats&);
  };
#define SYNCSCOPE_MAP_FIELD(f) [](const map::MapStats& m) { return static_cast<double>(m.f); }
  static constexpr Field kFields[] = {
      {"syncscope_map_hits_total", Type::kCounter, "Loads answered from the lock-free snapshot (or found).", SYNCSCOPE_MAP_FIELD(hits)},
      {"syncscope_map_misses_total", Type::kCounter, "Loads that fell through to the locked path (or found nothing).", SYNCSCOPE_MAP_FIELD(misses)},
      {"syncscope_map_promotions_total", Type::kCounter, "Dirty map promoted to the read snapshot.", SYNCSCOPE_MAP_FIELD(promotions)},
      {"syncscope_map_dirty_rebuilds_total", Type::kCounter, "Dirty map rebuilt by copying the snapshot.", SYNCSCOPE_MAP_FIELD(dirty_rebuilds)},
      {"syncscope_map_expunges_total", Type::kCounter, "Deleted entries expunged during rebuilds.", SYNCSCOPE_MAP_FIELD(expunges)},
      {"syncscope_map_compactions_total", Type::kCounter, "Rebuilds forced to drop deleted entries.", SYNCSCOPE_MAP_FIELD(compactions)},
      {"syncscope_map_pool_reuses_total", Type::kCounter, "Nodes served from a free list.", SYNCSCOPE_MAP_FIELD(pool_reuses)},
      {"syncscope_map_pool_allocations_total", Type::kCounter, "Nodes that needed the allocator.", SYNCSCOPE_MAP_FIELD(pool_allocations)},
      {"syncscope_map_entries", Type::kGauge, "Approximate number of keys.", SYNCSCOPE_MAP_FIELD(live_entries)},
      {"syncscope_map_reclaim_backlog_objects", Type::kGauge, "Retired objects not yet freed (reclamation backlog).", SYNCSCOPE_MAP_FIELD(retired_objects)},
      {"syncscope_map_reclaim_backlog_bytes", Type::kGauge, "Bytes of retired objects not yet freed.", SYNCSCOPE_MAP_FIELD(retired_bytes)},
      {"syncscope_map_pinned_readers", Type::kGauge, "Threads pinned in the epoch domain (process-wide).", SYNCSCOPE_MAP_FIELD(pinned_readers)},
      {"syncscope_map_pool_cached_nodes", Type::kGauge, "Nodes sitting in free lists.", SYNCSCOPE_MAP_FIELD(pool_cached_nodes)},
  };
#undef SYNCSCOPE_MAP_FIELD
  w.gauge("syncscope_maps_registered", "Named maps in the registry.",
          static_cast<double>(maps.size()));
  if (maps.empty()) return;
  for (const Field& f : kFields) {
    w.family(f.name, f.type, f.help);
    for (const map::NamedMapStats& m : maps) w.sample({{"map", m.name}, {"kind", m.stats.kind}}, f.get(m.stats));
  }
}

void write_server(PrometheusWriter& w, const ServerContext& ctx) {
  w.family("syncscope_http_responses_total", Type::kCounter,
           "Responses of the debug server by status class.");
  static constexpr const char* kClass[] = {"", "1xx", "2xx", "3xx", "4xx", "5xx"};
  for (int c = 2; c <= 5; ++c) {
    // relaxed: statistics only.
    w.sample({{"code", kClass[c]}},
             static_cast<double>(ctx.counters.by_class[c].load(std::memory_order_relaxed)));
  }
  const PartsPresent p = parts_present();
  auto yn = [](bool b) { return std::string(b ? "true" : "false"); };
  w.family("syncscope_build_info", Type::kGauge,
           "Always 1; labels tell which syncscope parts this build presents.");
  w.sample({{"prof", yn(p.prof)}, {"task", yn(p.task)}, {"retain", yn(p.retain)},
            {"map", yn(p.map)}},
           1);
}

}  // namespace

std::string render_metrics(const ServerContext& ctx) {
  PrometheusWriter w;
  write_process(w);
  write_heap(w);
  write_tasks(w);
  write_maps(w);
  write_server(w, ctx);
  return w.take();
}

void add_metrics_route(Router& s, ServerContext& ctx) {
  s.Get("/metrics", [&ctx](const Request&, Response& res) {
    res.set_content(render_metrics(ctx), "text/plain; version=0.0.4; charset=utf-8");
  });
}

}  // namespace syncscope::http::internal
