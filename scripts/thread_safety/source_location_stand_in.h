// For the thread-safety stage only (scripts/test.sh passes it with -include;
// no build compiles it): clang 14, Debian 12's clang, has no
// __builtin_source_location, which libstdc++ 12's <source_location> needs,
// so under clang 14 that header declares nothing and every file that uses
// the task API fails to parse. This stand-in gives the analysis a type with
// the same members; it is never linked into anything. With a clang that has
// the builtin it declares nothing and the real header is used.
#pragma once

#if !__has_builtin(__builtin_source_location)
#include <cstdint>

namespace std {
struct source_location {
  // constexpr, not consteval: clang 14 rejects a consteval call in a
  // template's default argument.
  static constexpr source_location current() noexcept { return {}; }
  constexpr source_location() noexcept = default;
  constexpr std::uint_least32_t line() const noexcept { return 0; }
  constexpr std::uint_least32_t column() const noexcept { return 0; }
  constexpr const char* file_name() const noexcept { return ""; }
  constexpr const char* function_name() const noexcept { return ""; }
  // One pointer, as libstdc++'s (its only member points at the call site's
  // static description): task/task_label_cache.h checks that size.
  const void* impl_ = nullptr;
};
}  // namespace std
#endif
