// Text and JSON renderings of retention answers. They print names, sizes and
// offsets only: never memory contents, never heap addresses.
#include <cinttypes>
#include <cstdio>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "syncscope/retain/retention.h"

namespace syncscope::retain {
namespace {

std::string hex(std::uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%" PRIx64, v);
  return buf;
}

std::string human_bytes(std::uint64_t b) {
  char buf[48];
  if (b >= (1ull << 30)) {
    std::snprintf(buf, sizeof buf, "%.2f GiB", static_cast<double>(b) / (1ull << 30));
  } else if (b >= (1ull << 20)) {
    std::snprintf(buf, sizeof buf, "%.2f MiB", static_cast<double>(b) / (1ull << 20));
  } else if (b >= (1ull << 10)) {
    std::snprintf(buf, sizeof buf, "%.1f KiB", static_cast<double>(b) / (1ull << 10));
  } else {
    std::snprintf(buf, sizeof buf, "%" PRIu64 " B", b);
  }
  return buf;
}

// "file.cc:42" (a frame's location suffix), not "namespace)::fn".
bool looks_like_location(std::string_view s) {
  const auto colon = s.rfind(':');
  if (colon == std::string_view::npos || colon + 1 >= s.size() || s.find(')') != std::string_view::npos) return false;
  for (std::size_t i = colon + 1; i < s.size(); ++i)
    if (s[i] < '0' || s[i] > '9') return false;
  return true;
}

std::string hop_kind(const PathHop& hop) { return hop.is_root ? to_string(hop.root_kind) : "block"; }

nlohmann::json hop_json(const PathHop& hop) {
  nlohmann::json j{{"kind", hop_kind(hop)}, {"site", hop.name}, {"size", hop.size},
                   {"offset", hop.offset}};
  const auto put = [&j](const char* key, const std::string& v) {
    if (!v.empty()) j[key] = v;
  };
  if (hop.is_root) {
    if (hop.root.thread_id != 0) j["thread_id"] = hop.root.thread_id;
    put("thread_name", hop.root.thread_name);
    put("frame", hop.root.frame);
    put("register", hop.root.register_name);
    put("module", hop.root.module);
    put("symbol", hop.root.symbol);
  } else {
    j["site_id"] = hop.site;
    j["site_is_allocation"] = hop.site_is_allocation;
    j["frames"] = hop.site_frames;
    put("type", hop.type);
  }
  return j;
}

nlohmann::json path_json(const RetentionPath& p) {
  nlohmann::json hops = nlohmann::json::array();
  for (const PathHop& h : p.hops) hops.push_back(hop_json(h));
  return {{"found", p.found},
          {"reachable", p.reachable},
          {"target", {{"site", p.target_site_name}, {"site_id", p.target_site}, {"size", p.target_size}}},
          {"retained_bytes", p.retained_bytes},
          {"path", hops}};
}

}  // namespace

std::string render_root(RootKind kind, const RootDetail& d) {
  if (kind == RootKind::kGlobal) {
    return "global " + (d.symbol.empty() ? "data of " + d.module : d.symbol + " (" + d.module + ")");
  }
  if (kind == RootKind::kOther) return "root";
  std::string who = "thread '" + d.thread_name + "'";
  if (d.thread_id != 0) who += " (tid " + std::to_string(d.thread_id) + ")";
  switch (kind) {
    case RootKind::kStack: return who + " stack" + (d.frame.empty() ? "" : ", frame " + d.frame);
    case RootKind::kRegister: return who + " register " + d.register_name;
    default: return who + " thread-local storage";
  }
}

std::string to_text(const RetentionPath& p) {
  if (!p.found) return "address is not inside a live block\n";
  std::string out = "target " + p.target_site_name + " (" + human_bytes(p.target_size) + ")";
  if (p.retained_bytes) out += ", retains " + human_bytes(p.retained_bytes);
  if (!p.reachable) return out + ": UNREACHABLE from every root (leaked)\n";
  out += ", kept alive by:\n";
  for (std::size_t i = 0; i < p.hops.size(); ++i) {
    const PathHop& h = p.hops[i];
    const bool last = i + 1 == p.hops.size();
    out += "  " + std::string(i == 0 ? "root " : "  -> ");
    if (h.is_root) {
      out += "[" + hop_kind(h) + "] " + h.name;
    } else {
      out += h.name + " (" + human_bytes(h.size) + ")";
      // The site's own source location: the last word of "function file:line".
      if (!h.site_frames.empty()) {
        const std::string& f = h.site_frames.front();
        const auto space = f.rfind(' ');
        if (space != std::string::npos && looks_like_location(std::string_view(f).substr(space + 1))) {
          out += " at " + f.substr(space + 1);
        }
      }
    }
    out += last ? ("  [target, queried offset +" + hex(h.offset) + "]")
                : ("  pointer at +" + hex(h.offset));
    out += "\n";
    for (std::size_t f = 1; f < h.site_frames.size() && f < 3; ++f) {
      out += "           from " + h.site_frames[f] + "\n";
    }
  }
  return out;
}

std::string to_text(std::span<const RetentionPath> paths) {
  if (paths.empty()) return "no live block matches\n";
  std::string out;
  for (const RetentionPath& p : paths) out += to_text(p);
  return out;
}

std::string to_text(std::span<const SiteRetainer> retainers) {
  std::string out = "top retainers (leak suspects) by retained bytes:\n";
  for (const SiteRetainer& r : retainers) {
    out += "  " + human_bytes(r.retained_bytes) + " in " + std::to_string(r.retained_objects) +
           " objects retained by " + r.site_name + " (" + std::to_string(r.live_objects) +
           " own blocks, " + human_bytes(r.live_bytes) + ")\n";
    if (!r.example_path.hops.empty()) {
      out += "    via: ";
      for (std::size_t i = 0; i < r.example_path.hops.size(); ++i) {
        out += (i ? " -> " : "") + r.example_path.hops[i].name;
      }
      out += "\n";
    }
  }
  return out;
}

std::string to_text(std::span<const SiteGrowth> growth) {
  std::string out = "allocation sites whose live bytes grew:\n";
  for (const SiteGrowth& g : growth) {
    out += "  +" + human_bytes(g.bytes_after - g.bytes_before) + " " + g.site_name + " (" +
           human_bytes(g.bytes_before) + " -> " + human_bytes(g.bytes_after) + ", " +
           std::to_string(g.objects_before) + " -> " + std::to_string(g.objects_after) +
           " objects)\n";
    std::string path = to_text(g.example_path);
    for (std::size_t pos = 0; pos < path.size();) {
      const std::size_t nl = path.find('\n', pos);
      out += "    " + path.substr(pos, nl - pos + 1);
      pos = nl == std::string::npos ? path.size() : nl + 1;
    }
  }
  return out;
}

std::string to_text(std::span<const LeakedTask> tasks) {
  if (tasks.empty()) return "no leaked tasks\n";
  std::string out = "leaked tasks (blocked on a wait object nothing alive can reach):\n";
  for (const LeakedTask& t : tasks) {
    char age[32];
    std::snprintf(age, sizeof age, "%.1fs", t.age_s);
    out += "  task " + std::to_string(t.task_id) + " \"" + t.name + "\" age " + age +
           ", blocked on " + t.blocking_reason + " (wait object allocated at " + t.wait_object_site +
           "), spawned at " + t.spawn_site + "\n";
  }
  return out;
}

std::string to_json(const RetentionPath& path) { return path_json(path).dump(); }

std::string to_json(std::span<const RetentionPath> paths) {
  nlohmann::json j = nlohmann::json::array();
  for (const RetentionPath& p : paths) j.push_back(path_json(p));
  return j.dump();
}

std::string to_json(std::span<const SiteRetainer> retainers) {
  nlohmann::json j = nlohmann::json::array();
  for (const SiteRetainer& r : retainers) {
    j.push_back({{"site", r.site_name},
                 {"site_id", r.site},
                 {"frames", r.site_frames},
                 {"retained_bytes", r.retained_bytes},
                 {"retained_objects", r.retained_objects},
                 {"live_bytes", r.live_bytes},
                 {"live_objects", r.live_objects},
                 {"example_path", path_json(r.example_path)}});
  }
  return j.dump();
}

std::string to_json(std::span<const SiteGrowth> growth) {
  nlohmann::json j = nlohmann::json::array();
  for (const SiteGrowth& g : growth) {
    j.push_back({{"site", g.site_name},
                 {"site_id", g.site},
                 {"bytes_before", g.bytes_before},
                 {"bytes_after", g.bytes_after},
                 {"objects_before", g.objects_before},
                 {"objects_after", g.objects_after},
                 {"example_path", path_json(g.example_path)}});
  }
  return j.dump();
}

std::string to_json(std::span<const LeakedTask> tasks) {
  nlohmann::json j = nlohmann::json::array();
  for (const LeakedTask& t : tasks) {
    j.push_back({{"task_id", t.task_id},
                 {"name", t.name},
                 {"spawn_site", t.spawn_site},
                 {"blocking_reason", t.blocking_reason},
                 {"wait_object_site", t.wait_object_site},
                 {"age_s", t.age_s}});
  }
  return j.dump();
}

}  // namespace syncscope::retain
