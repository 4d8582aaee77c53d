// The operations a benchmarked system offers, as bits, and the adapter shape
// every system presents to the workloads (int64 keys and values, as the Go
// benchmark's int keys).
//
// A workload names the operations it needs; a system that lacks one of them
// (tbb::concurrent_unordered_map has no concurrent erase, tbb's hash map
// cannot be iterated while it is written) is reported "n/a" for that
// workload instead of being benchmarked on a different operation.
#pragma once

#include <concepts>
#include <cstdint>

namespace syncscope::mapbench {

using Key = std::int64_t;
using Value = std::int64_t;

enum Op : unsigned {
  kLoad = 1u << 0,
  kStore = 1u << 1,
  kLoadOrStore = 1u << 2,
  kLoadAndDelete = 1u << 3,
  kDelete = 1u << 4,
  kSwap = 1u << 5,
  kCompareAndSwap = 1u << 6,
  kCompareAndDelete = 1u << 7,
  kRange = 1u << 8,               // iterate while only readers run
  kRangeWhileWriting = 1u << 9,   // iterate while other threads write, callback may write
  kAllOps = (1u << 10) - 1,
};

// Every adapter names itself and its operations; the operation methods
// exist only for the bits in kOps (checked where a workload is instantiated).
template <class A>
concept Adapter = requires {
  { A::kName } -> std::convertible_to<const char*>;
  { A::kOps } -> std::convertible_to<unsigned>;
} && std::default_initializable<A>;

// Method shapes, for reference (all keys/values by value):
//   bool load(Key, Value& out)                        true if found
//   void store(Key, Value)
//   bool load_or_store(Key, Value, Value& actual)     true if it was loaded
//   bool load_and_delete(Key, Value& out)             true if it was present
//   void erase(Key)
//   bool swap(Key, Value, Value& previous)            true if it was present
//   bool compare_and_swap(Key, Value old, Value nu)   true if swapped
//   bool compare_and_delete(Key, Value old)           true if deleted
//   template <class F> void range(F f)                f(Key, Value) -> bool (false stops)

}  // namespace syncscope::mapbench
