#include "task/task_label_cache.h"

#include <array>
#include <cstddef>
#include <cstring>
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

// Byte equality of two names of equal length, without a call to memcmp for
// the usual names of 4 to 16 bytes: their key words (task_label_cache.h),
// which hold every byte of such a name.
bool same_bytes(std::string_view a, std::string_view b) noexcept {
  std::uint64_t a_head, a_tail, b_head, b_tail;
  if (task_label_key_words(a, a_head, a_tail) && task_label_key_words(b, b_head, b_tail)) {
    return a_head == b_head && a_tail == b_tail;
  }
  return a.empty() || std::memcmp(a.data(), b.data(), a.size()) == 0;
}

// The pair's key, compared by content for the name (a name's buffer may be
// reused for another name) and by identity for the site's static strings.
bool matches(const Entry& e, std::string_view name, const std::source_location& site) noexcept {
  return e.file != nullptr && same_site(e, site) && e.name.size() == name.size() && same_bytes(e.name, name);
}

}  // namespace

thread_local LastTaskLabel tl_last_task_label;

namespace {

std::uint32_t remember(std::string_view name, const std::source_location& site, std::uint32_t label) noexcept {
  LastTaskLabel& last = tl_last_task_label;
  std::uint64_t head = 0, tail = 0;
  const bool keyed = task_label_key_words(name, head, tail);
  last.site = site_identity(site);
  last.name_len = keyed ? name.size() : ~std::uint64_t{0};
  last.head = head;
  last.tail = tail;
  last.label = label;
  return label;
}

}  // namespace

std::uint32_t task_label_from_memo(std::string_view name, const std::source_location& site) {
  Memo& memo = tl_memo;
  for (const Entry& e : memo.entries) {
    if (matches(e, name, site)) return remember(name, site, e.label);
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
  return remember(name, site, label);
}

}  // namespace syncscope::task::internal
