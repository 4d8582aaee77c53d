#include "report.h"
#include "system_names.h"
#include "text.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <tuple>

#include <nlohmann/json.hpp>


namespace syncscope::mapbench {
namespace {

using Cell = std::tuple<std::string, std::string, int>;  // workload, system, threads

std::map<Cell, const Record*> index_records(const std::vector<Record>& records) {
  std::map<Cell, const Record*> out;
  for (const auto& r : records) out[{r.workload, r.system, r.threads}] = &r;
  return out;
}

// 3 significant digits, no exponent for the usual range.
std::string fmt_ns(double ns) {
  if (ns >= 100) return text::format("%.0f", ns);
  if (ns >= 10) return text::format("%.1f", ns);
  return text::format("%.2f", ns);
}

std::string fmt_allocs(double a) {
  if (a == 0) return "0";
  if (a < 0.005) return "≈0";  // e.g. one table growth over a million ops
  if (a >= 10) return text::format("%.0f", a);
  return text::format("%.2f", a);
}

std::string fmt_rate(double ops_per_s) {
  if (ops_per_s >= 1e9) return text::format("%.2fG", ops_per_s / 1e9);
  if (ops_per_s >= 1e6) return text::format("%.2fM", ops_per_s / 1e6);
  if (ops_per_s >= 1e3) return text::format("%.1fk", ops_per_s / 1e3);
  return text::format("%.0f", ops_per_s);
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

}  // namespace

std::string render_json(const std::vector<Record>& records) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& r : records) {
    nlohmann::json j;
    j["workload"] = r.workload;
    j["system"] = r.system;
    j["threads"] = r.threads;
    if (r.na) {
      j["ns_per_op"] = nullptr;
      j["allocs_per_op"] = nullptr;
      j["ops"] = 0;
      j["na"] = true;
    } else {
      j["ns_per_op"] = r.ns_per_op;
      j["allocs_per_op"] = r.allocs_per_op;
      j["ops"] = r.ops;
      j["na"] = false;
      j["errors"] = r.errors;
      if (r.bytes_per_op) j["bytes_per_op"] = *r.bytes_per_op;
      if (r.read_ns) j["read_ns"] = *r.read_ns;
      if (r.write_ops_per_s) j["write_ops_per_s"] = *r.write_ops_per_s;
    }
    if (!r.note.empty()) j["note"] = r.note;
    j["source"] = r.source;
    list.push_back(std::move(j));
  }
  return list.dump(1) + "\n";
}

std::string render_csv(const std::vector<Record>& records) {
  std::string out =
      "workload,system,threads,ns_per_op,allocs_per_op,ops,na,errors,bytes_per_op,read_ns,"
      "write_ops_per_s,source,note\n";
  for (const auto& r : records) {
    auto opt = [](const std::optional<double>& v) { return v ? text::format("%.6g", *v) : ""; };
    text::append(out, csv_field(r.workload), ",", csv_field(r.system), ",", r.threads, ",",
                    r.na ? "" : text::format("%.6g", r.ns_per_op), ",",
                    r.na ? "" : text::format("%.6g", r.allocs_per_op), ",", r.ops, ",",
                    r.na ? "true" : "false", ",", r.errors, ",", opt(r.bytes_per_op), ",",
                    opt(r.read_ns), ",", opt(r.write_ops_per_s), ",", r.source, ",",
                    csv_field(r.note), "\n");
  }
  return out;
}

namespace {

using CellIndex = std::map<Cell, const Record*>;

// Rows: workloads; columns: systems; cells: "ns/op · allocs/op".
void append_thread_table(std::string& out, const CellIndex& cells, const RunContext& ctx, int t) {
  text::append(out, "\n## ", t, t == 1 ? " thread" : " threads", "\n\n| workload |");
  for (const auto& s : ctx.systems) text::append(out, " ", s, " |");
  out += "\n|---|";
  for (std::size_t i = 0; i < ctx.systems.size(); ++i) out += "---:|";
  out += "\n";
  for (const auto& w : ctx.workloads) {
    text::append(out, "| ", w, " |");
    for (const auto& s : ctx.systems) {
      auto it = cells.find({w, s, t});
      if (it == cells.end()) {
        out += " – |";
      } else if (it->second->na) {
        out += " n/a |";
      } else {
        const Record& r = *it->second;
        text::append(out, " ", fmt_ns(r.ns_per_op), " · ", fmt_allocs(r.allocs_per_op),
                     r.errors != 0 ? text::cat(" (", r.errors, " errors)") : "", " |");
      }
    }
    out += "\n";
  }
}

// Rows: systems; columns: thread counts; cells: read ns · write ops/s · allocs/op.
void append_cache_table(std::string& out, const CellIndex& cells, const RunContext& ctx) {
  out += "\n## ReadMostlyCache (99% load hits, 1% stores of existing keys)\n\n"
         "Cells: read latency ns (mean of one load) · write throughput ops/s (all threads) · allocs/op.\n\n"
         "| system |";
  for (int t : ctx.threads) text::append(out, " ", t, t == 1 ? " thread" : " threads", " |");
  out += "\n|---|";
  for (std::size_t i = 0; i < ctx.threads.size(); ++i) out += "---:|";
  out += "\n";
  for (const auto& s : ctx.systems) {
    text::append(out, "| ", s, " |");
    for (int t : ctx.threads) {
      auto it = cells.find({"ReadMostlyCache", s, t});
      if (it == cells.end() || it->second->na) {
        out += " n/a |";
        continue;
      }
      const Record& r = *it->second;
      text::append(out, " ", r.read_ns ? fmt_ns(*r.read_ns) : "?", " ns · ",
                   r.write_ops_per_s ? fmt_rate(*r.write_ops_per_s) : "?", "/s · ",
                   fmt_allocs(r.allocs_per_op), " |");
    }
    out += "\n";
  }
}

// Where we stand at the largest thread count: the best of our four maps
// against the best C++ peer and Go's sync.Map, as same-run ratios.
void append_standing_table(std::string& out, const CellIndex& cells, const RunContext& ctx) {
  if (ctx.threads.empty()) return;
  const int t = ctx.threads.back();
  auto best = [&](const std::string& w, bool ours) -> const Record* {
    const Record* b = nullptr;
    for (const auto& s : ctx.systems) {
      if (system_names::is_ours(s) != ours || system_names::is_go(s)) continue;
      auto it = cells.find({w, s, t});
      if (it == cells.end() || it->second->na) continue;
      if (b == nullptr || it->second->ns_per_op < b->ns_per_op) b = it->second;
    }
    return b;
  };
  text::append(out, "\n## Standing at ", t, t == 1 ? " thread" : " threads",
               "\n\nBest of our maps against the best C++ peer and Go's sync.Map (ratio > 1: we are faster).\n\n"
               "| workload | best of ours | best C++ peer | peer ns / ours ns | go_sync_map ns / ours ns |\n"
               "|---|---|---|---:|---:|\n");
  for (const auto& w : ctx.workloads) {
    const Record* ours = best(w, true);
    if (ours == nullptr) continue;
    const Record* peer = best(w, false);
    auto go = cells.find({w, system_names::kGoSyncMap, t});
    const bool have_go = go != cells.end() && !go->second->na;
    text::append(out, "| ", w, " | ", ours->system, " ", fmt_ns(ours->ns_per_op), " | ",
                 peer != nullptr ? text::cat(peer->system, " ", fmt_ns(peer->ns_per_op)) : "–", " | ",
                 peer != nullptr ? text::format("%.2f×", peer->ns_per_op / ours->ns_per_op) : "–", " | ",
                 have_go ? text::format("%.2f×", go->second->ns_per_op / ours->ns_per_op) : "n/a", " |\n");
  }
}

}  // namespace

std::string render_markdown(const std::vector<Record>& records, const RunContext& ctx) {
  const auto cells = index_records(records);
  std::string out = "# syncscope-mapbench results\n\n";
  text::append(out, "- Machine: ", ctx.machine.one_line(), "\n- Command: `", ctx.command,
               "`\n- Duration per run: ", ctx.duration, "; date: ", ctx.date,
               "\n- Cells: ns/op (wall time / total ops, as Go reports it) · allocs/op. "
               "n/a: the system lacks an operation the workload needs.\n");
  for (int t : ctx.threads) append_thread_table(out, cells, ctx, t);
  append_standing_table(out, cells, ctx);
  if (std::find(ctx.workloads.begin(), ctx.workloads.end(), "ReadMostlyCache") != ctx.workloads.end()) {
    append_cache_table(out, cells, ctx);
  }
  std::string notes;
  for (const auto& r : records) {
    const std::string line = text::cat("- ", r.system, ": ", r.note, "\n");
    if (r.na && !r.note.empty() && notes.find(line) == std::string::npos) notes += line;
  }
  if (!notes.empty()) text::append(out, "\n### Notes\n\n", notes);
  return out;
}

bool write_file(const std::string& path, const std::string& text, std::string& error) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (f) f << text;
  if (f) f.flush();
  if (!f) {
    error = text::cat("cannot write '", path, "': ", std::strerror(errno));
    return false;
  }
  return true;
}

}  // namespace syncscope::mapbench
