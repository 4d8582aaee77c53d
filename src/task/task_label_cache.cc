#include "task/task_label_cache.h"

#include <array>
#include <cstddef>
#include <string>

#include "syncscope/prof/task_labels.h"

namespace syncscope::task::internal {
namespace {

// One remembered pair. The site is keyed by identity: source_location's
// file and function strings are static, so equal pointers mean equal text;
// unequal pointers to equal text only cost a miss (the table dedups).
struct Entry {
  const char* file = nullptr;  // nullptr: empty entry
  const char* function = nullptr;
  std::uint_least32_t line = 0;
  std::uint_least32_t column = 0;
  std::string name;
  std::uint32_t label = 0;
};

// A worker usually runs tasks of a handful of sites; a few entries replaced
// round-robin keep those hits without a search of any length.
constexpr std::size_t kEntries = 8;

struct Memo {
  std::array<Entry, kEntries> entries;
  std::size_t next_victim = 0;  // round-robin replacement
};

thread_local Memo tl_memo;

bool same_site(const Entry& e, const std::source_location& site) noexcept {
  return e.file == site.file_name() && e.function == site.function_name() && e.line == site.line() &&
         e.column == site.column();
}

}  // namespace

std::uint32_t task_label_for(std::string_view name, const std::source_location& site) {
  Memo& memo = tl_memo;
  for (const Entry& e : memo.entries) {
    if (e.file != nullptr && same_site(e, site) && e.name == name) return e.label;
  }
  const std::uint32_t label = prof::intern_task_label(
      name, std::string(site.file_name()) + ":" + std::to_string(site.line()) + " " + site.function_name());
  Entry& slot = memo.entries[memo.next_victim];
  memo.next_victim = (memo.next_victim + 1) % kEntries;
  slot.file = site.file_name();
  slot.function = site.function_name();
  slot.line = site.line();
  slot.column = site.column();
  slot.name.assign(name);
  slot.label = label;
  return label;
}

}  // namespace syncscope::task::internal
