// The profiler label (task name, spawn site) of a task, looked up per worker
// thread without building the site string or taking the label table's lock.
//
// prof::intern_task_label() formats nothing itself but needs the site as
// "file:line function" and locks a global map: about a third of a tracked
// task's cost when done for every task. Interned ids never change and the
// table never shrinks (a pair refused when it is full stays refused), so a
// per-thread memo of recent (name, site) -> id answers exactly what the
// table would. Its last answer is checked first, inline (about 15
// instructions where the memo's search cost about 75).
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <source_location>
#include <string_view>

namespace syncscope::task::internal {

// The last answer of this thread, checked inline before the memo: a worker
// usually runs a series of tasks from one site. Trivially destructible, so
// reaching it needs no thread_local guard.
//
// Key: the site by identity (its static description, see site_identity),
// the name by content: its length
// and its bytes as two words (two overlapping loads, for names of 4 to 16
// bytes; any other length never matches here and asks the memo). A name's
// buffer may be reused for other text, so a name is never keyed by address.
struct LastTaskLabel {
  const void* site = nullptr;  // site_identity(); nullptr: nothing remembered
  std::uint64_t name_len = ~std::uint64_t{0};  // not 4..16: never matches
  std::uint64_t head = 0;  // the name's first 8 bytes (first 4, zero-extended, below 8)
  std::uint64_t tail = 0;  // its last 8 bytes (last 4 below 8)
  std::uint32_t label = 0;
};
extern thread_local LastTaskLabel tl_last_task_label;

// A spawn site's identity: libstdc++'s source_location is one pointer to
// the call site's static description (file, function, line, column), the
// same object for every call from that site. Equal pointers mean the same
// site; a site described twice (unequal pointers, equal fields) only misses
// here, and the memo, which compares the fields, answers it.
static_assert(sizeof(std::source_location) == sizeof(const void*), "source_location is one pointer (libstdc++)");
inline const void* site_identity(const std::source_location& site) noexcept {
  return std::bit_cast<const void*>(site);
}

// The name's two key words; false when its length is not 4..16.
inline bool task_label_key_words(std::string_view name, std::uint64_t& head, std::uint64_t& tail) noexcept {
  const std::size_t n = name.size();
  if (n >= 8 && n <= 16) {
    std::memcpy(&head, name.data(), 8);
    std::memcpy(&tail, name.data() + n - 8, 8);
    return true;
  }
  if (n >= 4 && n < 8) {
    std::uint32_t h, t;
    std::memcpy(&h, name.data(), 4);
    std::memcpy(&t, name.data() + n - 4, 4);
    head = h;
    tail = t;
    return true;
  }
  return false;
}

// The memo (task_label_cache.cc); remembers its answer in tl_last_task_label.
std::uint32_t task_label_from_memo(std::string_view name, const std::source_location& site);

// Same id as prof::intern_task_label(name, "file:line function" of site).
// Calling thread only; allocates on a memo miss (the memo's copy of the name).
inline std::uint32_t task_label_for(std::string_view name, const std::source_location& site) {
  const LastTaskLabel& last = tl_last_task_label;
  std::uint64_t head, tail;
  if (last.name_len == name.size() && last.site == site_identity(site) &&
      task_label_key_words(name, head, tail) && head == last.head && tail == last.tail) [[likely]] {
    return last.label;
  }
  return task_label_from_memo(name, site);
}

}  // namespace syncscope::task::internal
