// The conservative scan alone (docs/retain.md, issue 16 item 6), without the
// stop, the freeze or the analysis around it: scan_all over a synthetic
// pointer-dense heap laid out as glibc lays out `new char[bytes]` (chunks of
// bytes + 16 rounded to 16, one after the other), each block holding three
// pointers to random blocks and small integers elsewhere (the heap of
// retention_benchmark's BM_Snapshot).
//   BM_ScanAll/<blocks>/<bytes>: index build + scan_all, fresh scanner
//     buffers each iteration (their first-touch page faults are part of a
//     real scan); GB/s per core = bytes scanned / thread CPU time.
//   BM_IndexLookup/<blocks>: BlockIndex::lookup of random heap words alone.
// Reduced sizes (e.g. --benchmark_filter=BM_ScanAll/100000/) suit callgrind.
#include <benchmark/benchmark.h>
#include <sys/mman.h>
#include <time.h>

#include <cstdint>
#include <cstring>
#include <random>

#include "retain/heap_scanner.h"
#include "retain/memory_image.h"

namespace {

namespace ri = syncscope::retain::internal;
using syncscope::retain::GraphBlock;

// This process' memory read in place: the synthetic heap is one mapping.
class InPlaceImage final : public ri::MemoryImage {
 public:
  InPlaceImage(std::uintptr_t begin, std::uintptr_t end) : begin_(begin), end_(end) {}
  std::span<const ri::Mapping> regions() const noexcept override { return {}; }
  const std::byte* view(std::uintptr_t addr, std::size_t len) const noexcept override {
    return addr >= begin_ && addr + len <= end_ ? reinterpret_cast<const std::byte*>(addr) : nullptr;
  }
  ri::ImageWindow window(std::uintptr_t addr) const noexcept override {
    if (addr < begin_ || addr >= end_) return {};
    return ri::ImageWindow{begin_, end_, reinterpret_cast<const std::byte*>(begin_)};
  }
  bool resident(std::uintptr_t, std::size_t, unsigned char*) const noexcept override { return false; }

 private:
  std::uintptr_t begin_, end_;
};

struct SyntheticHeap {
  std::byte* memory = nullptr;
  std::size_t mapped = 0;
  ri::MmapBuffer<GraphBlock> blocks;

  SyntheticHeap(std::size_t count, std::size_t bytes) {
    const std::size_t stride = (bytes + 16 + 15) / 16 * 16;  // glibc: header + rounding
    mapped = count * stride + 4096;
    memory = static_cast<std::byte*>(
        ::mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (memory == MAP_FAILED) std::abort();
    blocks.reserve(count);
    const auto base = reinterpret_cast<std::uintptr_t>(memory) + 16;
    for (std::size_t i = 0; i < count; ++i) blocks.push_back(GraphBlock{base + i * stride, bytes, 0});
    std::mt19937_64 rng(42);
    for (std::size_t i = 0; i < count; ++i) {
      auto* words = reinterpret_cast<std::uint64_t*>(blocks[i].address);
      for (std::size_t w = 0; w < bytes / 8; ++w) words[w] = rng() & 0xffff;
      for (std::size_t k = 0; k < 3 && k < bytes / 8; ++k) words[k] = blocks[rng() % count].address;
    }
  }
  ~SyntheticHeap() { ::munmap(memory, mapped); }
  InPlaceImage image() const {
    const auto b = reinterpret_cast<std::uintptr_t>(memory);
    return InPlaceImage(b, b + mapped);
  }
};

std::uint64_t thread_cpu_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

void BM_ScanAll(benchmark::State& state) {
  const SyntheticHeap heap(static_cast<std::size_t>(state.range(0)), static_cast<std::size_t>(state.range(1)));
  const InPlaceImage image = heap.image();
  double scanned = 0, cpu_ns = 0, edges = 0, n = 0;
  for (auto _ : state) {
    const std::uint64_t cpu0 = thread_cpu_ns();
    ri::BlockIndex index;
    ri::ScanOutput out;
    if (!index.build(heap.blocks.data(), heap.blocks.size())) {
      state.SkipWithError("index build failed");
      break;
    }
    ri::scan_all(image, nullptr, 0, heap.blocks.data(), heap.blocks.size(), index, out);
    cpu_ns += static_cast<double>(thread_cpu_ns() - cpu0);
    scanned += static_cast<double>(out.bytes_scanned);
    edges += static_cast<double>(out.block_edges.size());
    n += 1;
    if (out.truncated) {
      state.SkipWithError("scan truncated");
      break;
    }
  }
  if (n > 0) {
    state.counters["scanned_MiB"] = scanned / n / (1 << 20);
    state.counters["edges"] = edges / n;
    state.counters["scan_GB_per_s_core"] = scanned / cpu_ns;  // bytes/ns == GB/s
    state.counters["ms_per_GiB"] = cpu_ns / 1e6 / (scanned / (1u << 30));
  }
}
BENCHMARK(BM_ScanAll)
    ->Args({100000, 256})
    ->Args({1000000, 256})
    ->Args({1000000, 1024})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_IndexLookup(benchmark::State& state) {
  const SyntheticHeap heap(static_cast<std::size_t>(state.range(0)), 256);
  ri::BlockIndex index;
  if (!index.build(heap.blocks.data(), heap.blocks.size())) std::abort();
  std::mt19937_64 rng(7);
  constexpr std::size_t kQueries = 1 << 16;
  static std::uintptr_t queries[kQueries];
  const std::uintptr_t lo = heap.blocks[0].address;
  const std::uintptr_t span = heap.blocks[heap.blocks.size() - 1].address + 256 - lo;
  for (auto& q : queries) q = lo + rng() % span;
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(index.lookup(queries[i++ & (kQueries - 1)]));
  }
}
BENCHMARK(BM_IndexLookup)->Arg(100000)->Arg(1000000);

}  // namespace

BENCHMARK_MAIN();
