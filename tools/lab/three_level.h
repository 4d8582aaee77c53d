// Scenario 2 (three-level): the article's map -> struct -> vector -> pointer
// chain. A catalog ReadMostlyMap<key, shared_ptr<const Wrapper>> is refreshed
// by a writer that replaces one wrapper every `replace_every`; each Wrapper
// owns a vector of pointers to Payloads of growing size. A long-lived audit
// task keeps, for every wrapper version it sees, a pointer to that version's
// first (smallest) payload — an aliasing shared_ptr, which shares ownership
// of the whole wrapper. So one small pointer per version keeps the wrapper,
// its vector and every payload alive: the C++ form of Go's interior pointer
// pinning a whole slice's backing array.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "syncscope/map/read_mostly_map.h"
#include "task_group.h"
#include "workload.h"

namespace syncscope::lab {

struct Payload {
  std::uint64_t id = 0;
  std::size_t size = 0;
  std::unique_ptr<std::byte[]> bytes;  // [size]
};

struct Wrapper {
  std::uint64_t key = 0;
  std::uint64_t version = 0;
  std::vector<std::unique_ptr<Payload>> items;  // items[i] holds (i+1) * item_unit bytes
};

struct ThreeLevelParams {
  std::size_t keys = 32;
  std::size_t items_per_wrapper = 8;
  std::size_t item_unit = 2 * 1024;
  std::chrono::milliseconds replace_every{20};
  std::size_t counter_updates_per_tick = 40;  // small stores that keep reclamation moving
  std::chrono::milliseconds audit_every{50};
  std::size_t max_history = 500;  // bound on versions the audit keeps
  // true: the audit keeps an aliasing pointer per version (the leak);
  // false: it copies the payload's id and size and holds no pointer (the
  // negative control three-level-copied).
  bool hold_pointer = true;
};

class ThreeLevel final : public Workload {
 public:
  explicit ThreeLevel(ThreeLevelParams params = {});
  ~ThreeLevel() override;

  void start() override;
  bool stop() override;
  std::string summary() const override;
  MapBacklog backlog() const override;

 private:
  void writer_loop();
  void audit_loop();
  bool released() const noexcept { return tasks_.released(); }

  const ThreeLevelParams params_;
  syncscope::map::ReadMostlyMap<std::uint64_t, std::shared_ptr<const Wrapper>> catalog_;
  syncscope::map::ReadMostlyMap<std::uint64_t, std::uint64_t> views_;  // per-key counters
  TaskGroup tasks_;  // the writer and the other loop
  std::atomic<std::uint64_t> replaced_{0};  // relaxed statistics
  std::atomic<std::uint64_t> kept_{0};
  bool started_ = false;
};

}  // namespace syncscope::lab
