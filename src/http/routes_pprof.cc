// /debug/pprof/*: Go net/http/pprof's paths, parameters and conventions.
#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "http/params.h"
#include "http/profile_reply.h"
#include "http/responses.h"
#include "http/routes.h"
#include "http/sources.h"
#include "syncscope/http/html_escape.h"

namespace syncscope::http::internal {
namespace {

struct ProfileEntry {
  const char* name;
  const char* part;  // "prof", "task", "retain"
  const char* description;
};

// The index page's rows, with Go's descriptions where the profile is Go's.
constexpr ProfileEntry kProfiles[] = {
    {"allocs", "prof",
     "A sampling of all past memory allocations (default sample type alloc_space)."},
    {"block", "prof",
     "Stack traces that led to waits of tasks (tasks API). Off until "
     "prof::set_block_profile_rate (or SYNCSCOPE_BLOCK_PROFILE_RATE); ?seconds=N gives a delta."},
    {"goroutine", "task",
     "Stack traces of all live tasks (spawn stacks) and all OS threads (current stacks). "
     "debug=1: aggregated text; debug=2: one block per task and thread."},
    {"goroutineleak", "retain",
     "Tasks that can never be woken (Go 1.26's leaked goroutines): nothing that could "
     "wake them can reach what they wait on. Stops the world briefly."},
    {"heap", "prof",
     "A sampling of memory allocations of live objects. ?seconds=N gives a delta profile; "
     "gc is accepted and ignored (C++ has no collector to run)."},
    {"mutex", "prof",
     "Stack traces of waits for the maps' locks. Off until prof::set_mutex_profile_fraction "
     "(or SYNCSCOPE_MUTEX_PROFILE_FRACTION); ?seconds=N gives a delta."},
    {"profile", "prof",
     "CPU profile. ?seconds=N (default 30) and ?hz=H (default 100). One at a time. "
     "After you get the profile file, use the go tool pprof command to investigate it."},
    {"retained", "retain",
     "Retention profile: dominator chains root -> holder -> object, valued by retained bytes. "
     "Answers who holds memory. Stops the world briefly."},
    {"trace", "task",
     "Execution trace for ?seconds=N (default 1) in Chrome trace-event JSON, not Go's binary "
     "format: open it in ui.perfetto.dev or chrome://tracing, not 'go tool trace'."},
    {"cmdline", "", "The command line of the current program (NUL-separated)."},
    {"symbol", "", "Go's symbol protocol: POST '0xADDR+0xADDR' -> one 'ADDR name' per line."},
};

bool part_present(const PartsPresent& p, std::string_view part) {
  if (part == "prof") return p.prof;
  if (part == "task") return p.task;
  if (part == "retain") return p.retain;
  return true;
}

std::string index_html() {
  const PartsPresent parts = parts_present();
  std::string rows;
  for (const ProfileEntry& e : kProfiles) {
    const bool ok = part_present(parts, e.part);
    // profile and trace take seconds, not debug (as in Go's index).
    const std::string_view name = e.name;
    const char* query = name == "profile" || name == "trace" ? "" : "?debug=1";
    absl::StrAppend(&rows, "<tr><td><a href=\"", e.name, query, "\">", e.name, "</a>",
                    ok ? "" : " <em>(not in this build: 501)</em>", "</td><td>",
                    html_escape(e.description), "</td></tr>\n");
  }
  return absl::StrCat(
      "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>/debug/pprof/</title>"
      "<style>body{font-family:sans-serif}td{padding:4px 8px;vertical-align:top}</style>"
      "</head><body>\n<h1>/debug/pprof/</h1>\n"
      "<p>syncscope debug server. Profiles use Go net/http/pprof's paths: "
      "<code>go tool pprof http://HOST/debug/pprof/heap</code>. Add <code>?debug=1</code> "
      "for text. Also: <a href=\"/debug/\">dashboard</a>, <a href=\"/metrics\">/metrics</a>, "
      "<a href=\"/debug/maps?format=text\">/debug/maps</a>, "
      "<a href=\"/debug/retain?format=text\">/debug/retain</a> (?site=FUNC or ?addr=0xADDR).</p>\n"
      "<table>\n",
      rows, "</table>\n</body></html>\n");
}

// heap and allocs share everything but the default sample type.
Handler heap_handler(ServerContext& ctx, HeapView view, const char* name) {
  return [&ctx, view, name](const Request& req, Response& res) {
    absl::StatusOr<ProfileParams> p = profile_params(req, 1, ctx.options.max_seconds);
    if (!p.ok()) return reply_status(res, p.status());
    if (p->gc) res.set_header("X-Syncscope-Note", "gc ignored: C++ has no garbage collector");
    reply_pprof(
        res, ctx, *p, name, [view](int debug) { return heap_profile(view, debug); },
        [view](int seconds, const Canceller& c) { return heap_delta_profile(view, seconds, c); });
  };
}

void goroutine(const Request& req, Response& res, ServerContext& ctx) {
  absl::StatusOr<ProfileParams> p = profile_params(req, 2, ctx.options.max_seconds);
  if (!p.ok()) return reply_status(res, p.status());
  reply_pprof(res, *p, "goroutine", goroutine_profile);
}

void trace(const Request& req, Response& res, ServerContext& ctx) {
  absl::StatusOr<ProfileParams> p = profile_params(req, 0, ctx.options.max_seconds);
  if (!p.ok()) return reply_status(res, p.status());
  if (req.has_param("debug")) return reply_error(res, 400, "trace does not take debug");
  LongRequestSlot slot(ctx);
  if (!slot.ok()) return reply_error(res, 503, "too many long-running requests; retry later");
  absl::StatusOr<std::string> json = trace_json(p->seconds.value_or(1), ctx.canceller);
  if (!json.ok()) return reply_status(res, json.status());
  res.set_header("Content-Disposition", "attachment; filename=\"trace.json\"");
  reply_json(res, *std::move(json));
}

void retained(const Request& req, Response& res, ServerContext& ctx) {
  absl::StatusOr<ProfileParams> p = profile_params(req, 0, ctx.options.max_seconds);
  if (!p.ok()) return reply_status(res, p.status());
  if (p->seconds) return reply_error(res, 400, "retained profile does not support seconds");
  absl::StatusOr<std::string> prof = retention_profile();
  if (!prof.ok()) return reply_status(res, prof.status());
  reply_profile(res, *std::move(prof), "retained", false);
}

void cmdline(const Request&, Response& res) {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string args((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!args.empty() && args.back() == '\0') args.pop_back();
  reply_text(res, std::move(args));
}

// Go's protocol: GET -> "num_symbols: 1"; POST body (or GET query)
// "0xA+0xB" -> "num_symbols: 1\n0xA name\n..." for every address found.
void symbol(const Request& req, Response& res) {
  std::string input = req.method == "POST" ? req.body : "";
  if (req.method != "POST") {
    const std::size_t q = req.target.find('?');
    if (q != std::string::npos) input = req.target.substr(q + 1);
  }
  std::string out = "num_symbols: 1\n";
  for (absl::string_view word : absl::StrSplit(input, absl::ByAnyChar("+ \n"), absl::SkipEmpty())) {
    std::uint64_t pc = 0;
    if (!absl::SimpleHexAtoi(word, &pc)) {
      return reply_error(res, 400, absl::StrCat("invalid address \"", word.substr(0, 40), "\""));
    }
    if (std::optional<std::string> name = symbol_name(static_cast<std::uintptr_t>(pc))) {
      absl::StrAppendFormat(&out, "%#x %s\n", pc, *name);
    }
  }
  reply_text(res, std::move(out));
}

}  // namespace

void add_pprof_routes(Router& s, ServerContext& ctx) {
  s.Get("/debug/pprof", [](const Request&, Response& res) {
    res.set_redirect("/debug/pprof/", 301);
  });
  s.Get("/debug/pprof/", [](const Request&, Response& res) {
    res.set_content(index_html(), kHtml);
  });
  s.Get("/debug/pprof/heap", heap_handler(ctx, HeapView::kInuse, "heap"));
  s.Get("/debug/pprof/allocs", heap_handler(ctx, HeapView::kAllocs, "allocs"));
  s.Get("/debug/pprof/goroutine",
        [&ctx](const Request& q, Response& r) { goroutine(q, r, ctx); });
  s.Get("/debug/pprof/trace",
        [&ctx](const Request& q, Response& r) { trace(q, r, ctx); });
  s.Get("/debug/pprof/retained",
        [&ctx](const Request& q, Response& r) { retained(q, r, ctx); });
  s.Get("/debug/pprof/cmdline", cmdline);
  s.Get("/debug/pprof/symbol", symbol);
  s.Post("/debug/pprof/symbol", symbol);
  s.GetPrefix("/debug/pprof/", [](const Request& req, Response& res) {
    const std::string name = req.path.substr(std::string_view("/debug/pprof/").size());
    reply_error(res, 404, absl::StrCat("Unknown profile: ", name.substr(0, 64)));
  });
}

}  // namespace syncscope::http::internal
