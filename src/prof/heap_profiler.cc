// HeapProfiler: configuration, counters and snapshots of the sampled heap.
#include "syncscope/prof/heap_profiler.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <cerrno>
#include <exception>

#include "prof/heap_recorder.h"
#include "prof/live_block_store.h"
#include "prof/sampled_heap.h"
#include "prof/stack_table.h"
#include "prof/thread_state.h"

namespace syncscope::prof {

using internal::HookGuard;

bool HeapProfiler::hooks_installed() noexcept { return internal::hooks_linked(); }

void HeapProfiler::start() noexcept {
  internal::install_fork_handlers();
  internal::set_sampling(true, internal::sample_rate());
}

void HeapProfiler::stop() noexcept { internal::set_sampling(false, internal::sample_rate()); }

bool HeapProfiler::running() noexcept { return internal::sampling(); }

void HeapProfiler::set_sample_rate(std::int64_t bytes) noexcept {
  internal::set_sampling(internal::sampling(), bytes);
}

std::int64_t HeapProfiler::sample_rate() noexcept { return internal::sample_rate(); }

void HeapProfiler::set_exact_mode(bool on) noexcept { internal::set_exact_mode(on); }

bool HeapProfiler::exact_mode() noexcept {
  // relaxed: a flag read.
  return internal::LiveBlockStore::instance().enabled.load(std::memory_order_relaxed);
}

HeapCounters HeapProfiler::counters() noexcept {
  HeapCounters c;
  const internal::CounterSlot* slots = internal::counter_slots();
  for (std::size_t i = 0; i < internal::kCounterSlots; ++i) {
    // relaxed: statistics; see the HeapCounters comment about mixed moments.
    c.allocated_bytes += slots[i].alloc_bytes.load(std::memory_order_relaxed);
    c.allocated_objects += slots[i].alloc_objects.load(std::memory_order_relaxed);
    c.freed_bytes += slots[i].free_bytes.load(std::memory_order_relaxed);
    c.freed_objects += slots[i].free_objects.load(std::memory_order_relaxed);
  }
  c.live_bytes = c.allocated_bytes >= c.freed_bytes ? c.allocated_bytes - c.freed_bytes : 0;
  c.live_objects =
      c.allocated_objects >= c.freed_objects ? c.allocated_objects - c.freed_objects : 0;
  c.samples = internal::samples_taken();
  c.samples_dropped = internal::samples_dropped();
  return c;
}

HeapSnapshot HeapProfiler::snapshot() {
  HookGuard guard;  // our own allocations are not profiled
  HeapSnapshot snap;
  snap.sample_rate = internal::sample_rate();
  snap.time_nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
  internal::StackTable& stacks = internal::StackTable::instance();
  const std::uint32_t n = stacks.size();
  std::vector<internal::SiteEstimate> est(n + 1);  // allocated before taking the lock
  internal::SampledHeap::instance().copy_estimates(est.data(), n);
  for (std::uint32_t id = 0; id <= n; ++id) {
    const internal::SiteEstimate& e = est[id];
    if (e.alloc_objects <= 0) continue;
    HeapSample s;
    s.site = id;
    if (const internal::StackRecord* r = stacks.get(id)) s.pcs.assign(r->pcs, r->pcs + r->depth);
    s.alloc_objects = std::llround(e.alloc_objects);
    s.alloc_bytes = std::llround(e.alloc_bytes);
    s.inuse_objects = std::max<std::int64_t>(0, std::llround(e.alloc_objects - e.free_objects));
    s.inuse_bytes = std::max<std::int64_t>(0, std::llround(e.alloc_bytes - e.free_bytes));
    snap.samples.push_back(std::move(s));
  }
  return snap;
}

std::string HeapProfiler::heap_profile_bytes() {
  HookGuard guard;
  return snapshot().to_pprof();
}

bool HeapProfiler::write_heap_profile(const std::string& path, std::string* error) {
  HookGuard guard;
  auto fail = [&](const std::string& why) {
    if (error != nullptr) *error = "cannot write heap profile to " + path + ": " + why;
    return false;
  };
  std::string bytes;
  try {
    bytes = heap_profile_bytes();
  } catch (const std::exception& e) {  // out of memory while building: the samples stay
    return fail(e.what());
  }
  // The temporary file is created, never reused: in a shared directory such
  // as /tmp a planted file or symlink with that name makes the write fail
  // instead of redirecting it. The rename replaces `path` itself, not a
  // file a symlink there points to. Owner-only: profiles name the program's
  // code and addresses.
  std::string tmp;
  try {
    // relaxed: a unique number only; concurrent writers get distinct files.
    static std::atomic<std::uint64_t> g_writes{0};
    tmp = path + ".tmp." + std::to_string(getpid()) + "." +
          std::to_string(g_writes.fetch_add(1, std::memory_order_relaxed));
  } catch (const std::exception& e) {
    return fail(e.what());
  }
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return fail(std::strerror(errno));
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  int saved = done == bytes.size() ? 0 : (errno != 0 ? errno : EIO);
  if (close(fd) != 0 && saved == 0) saved = errno;
  if (saved == 0 && std::rename(tmp.c_str(), path.c_str()) != 0) saved = errno;
  if (saved != 0) {
    unlink(tmp.c_str());
    return fail(std::strerror(saved));
  }
  return true;
}

}  // namespace syncscope::prof
