// The sequential reference model of the map contract (DESIGN §2) and the
// operation vocabulary shared by the random model checker, the
// linearizability checker and the libFuzzer target.
//
// An Op is one call of the map API on int64 keys and values. apply_to_map()
// performs it on any ConcurrentMap; ModelMap::apply() performs it on a plain
// std::unordered_map (Go's map_reference_test.go does the same with an
// RWMutex map). results_match() compares the two; for range() the model
// cannot predict the order, so it checks the visited pairs instead.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace syncscope::map::testing {

using Key = std::int64_t;
using Value = std::int64_t;

enum class OpKind : std::uint8_t {
  kLoad,
  kStore,
  kLoadOrStore,
  kLoadAndDelete,
  kErase,
  kSwap,
  kCompareAndSwap,
  kCompareAndDelete,
  kVisit,
  // Not linearizable by contract (range, clear) or O(N) (exact size).
  kRange,
  kClear,
  kSize,
  kExactSize,
};
inline constexpr int kLinearizableOpKinds = 9;  // kLoad .. kVisit
inline constexpr int kOpKinds = 13;

struct Op {
  OpKind kind = OpKind::kLoad;
  Key key = 0;
  Value a = 0;          // store/load_or_store/swap value; CAS/CAD expected
  Value b = 0;          // CAS new value
  std::size_t limit = 0;  // range: stop after this many visits
};

struct OpResult {
  std::optional<Value> value;  // load, load_and_delete, swap, load_or_store, visit
  bool flag = false;           // loaded / erased / swapped / deleted / found
  std::size_t count = 0;       // size, exact size, range visits
  std::vector<std::pair<Key, Value>> visited;  // range only
  bool operator==(const OpResult&) const = default;
};

inline const char* to_string(OpKind kind) {
  static constexpr const char* kNames[] = {
      "load", "store", "load_or_store", "load_and_delete", "erase", "swap",
      "compare_and_swap", "compare_and_delete", "visit", "range", "clear",
      "size", "exact_size"};
  return kNames[static_cast<int>(kind)];
}

inline std::string describe(const Op& op) {
  std::string s = to_string(op.kind);
  s += "(k=" + std::to_string(op.key) + ", a=" + std::to_string(op.a) +
       ", b=" + std::to_string(op.b);
  if (op.kind == OpKind::kRange) s += ", limit=" + std::to_string(op.limit);
  return s + ")";
}

inline std::string describe(const OpResult& r) {
  std::string s = "{value=";
  s += r.value ? std::to_string(*r.value) : std::string("none");
  s += ", flag=" + std::to_string(r.flag) + ", count=" + std::to_string(r.count) +
       ", visited=" + std::to_string(r.visited.size()) + "}";
  return s;
}

// Performs `op` on a real map. The range callback records what it sees.
template <class M>
OpResult apply_to_map(M& m, const Op& op) {
  OpResult r;
  switch (op.kind) {
    case OpKind::kLoad: r.value = m.load(op.key); break;
    case OpKind::kStore: m.store(op.key, op.a); break;
    case OpKind::kLoadOrStore: {
      auto res = m.load_or_store(op.key, op.a);
      r.value = res.value;
      r.flag = res.loaded;
      break;
    }
    case OpKind::kLoadAndDelete: r.value = m.load_and_delete(op.key); break;
    case OpKind::kErase: r.flag = m.erase(op.key); break;
    case OpKind::kSwap: r.value = m.swap(op.key, op.a); break;
    case OpKind::kCompareAndSwap: r.flag = m.compare_and_swap(op.key, op.a, op.b); break;
    case OpKind::kCompareAndDelete: r.flag = m.compare_and_delete(op.key, op.a); break;
    case OpKind::kVisit:
      r.flag = m.visit(op.key, [&](const Value& v) { r.value = v; });
      break;
    case OpKind::kRange:
      m.range([&](const Key& k, const Value& v) {
        r.visited.emplace_back(k, v);
        return r.visited.size() < op.limit;
      });
      r.count = r.visited.size();
      break;
    case OpKind::kClear: m.clear(); break;
    case OpKind::kSize: r.count = m.size(); break;
    case OpKind::kExactSize: r.count = m.exact_size(); break;
  }
  return r;
}

// The sequential specification.
class ModelMap {
 public:
  OpResult apply(const Op& op) {
    OpResult r;
    auto it = m_.find(op.key);
    const bool found = it != m_.end();
    switch (op.kind) {
      case OpKind::kLoad:
        if (found) r.value = it->second;
        break;
      case OpKind::kStore: m_[op.key] = op.a; break;
      case OpKind::kLoadOrStore:
        r.flag = found;
        r.value = found ? it->second : op.a;
        if (!found) m_.emplace(op.key, op.a);
        break;
      case OpKind::kLoadAndDelete:
        if (found) {
          r.value = it->second;
          m_.erase(it);
        }
        break;
      case OpKind::kErase:
        r.flag = found;
        if (found) m_.erase(it);
        break;
      case OpKind::kSwap:
        if (found) r.value = it->second;
        m_[op.key] = op.a;
        break;
      case OpKind::kCompareAndSwap:
        r.flag = found && it->second == op.a;
        if (r.flag) it->second = op.b;
        break;
      case OpKind::kCompareAndDelete:
        r.flag = found && it->second == op.a;
        if (r.flag) m_.erase(it);
        break;
      case OpKind::kVisit:
        r.flag = found;
        if (found) r.value = it->second;
        break;
      case OpKind::kRange: r.count = std::min(op.limit, m_.size()); break;
      case OpKind::kClear: m_.clear(); break;
      case OpKind::kSize:
      case OpKind::kExactSize: r.count = m_.size(); break;
    }
    return r;
  }

  const std::unordered_map<Key, Value>& contents() const { return m_; }
  void set(Key k, Value v) { m_[k] = v; }

 private:
  std::unordered_map<Key, Value> m_;
};

// Does the map's result agree with the model's? `model` is the model state
// after the op (range and the size queries do not change it).
inline bool results_match(const Op& op, const OpResult& expected, const OpResult& actual,
                          const ModelMap& model, std::string* why) {
  if (op.kind != OpKind::kRange) {
    if (expected == actual) return true;
    *why = "expected " + describe(expected) + ", got " + describe(actual);
    return false;
  }
  if (actual.count != expected.count) {
    *why = "range visited " + std::to_string(actual.count) + " keys, expected " +
           std::to_string(expected.count);
    return false;
  }
  std::unordered_set<Key> seen;
  for (const auto& [k, v] : actual.visited) {
    if (!seen.insert(k).second) {
      *why = "range visited key " + std::to_string(k) + " twice";
      return false;
    }
    auto it = model.contents().find(k);
    if (it == model.contents().end() || it->second != v) {
      *why = "range visited (" + std::to_string(k) + ", " + std::to_string(v) +
             ") which the model does not hold";
      return false;
    }
  }
  return true;
}

// Random operations. Values come from a small range so that CAS/CAD see
// equal values often; clear and the O(N) queries are rare.
struct OpMix {
  Key key_range = 16;
  Value value_range = 8;
  std::uint32_t clear_one_in = 5000;       // 0: never
  std::uint32_t exact_size_one_in = 1000;  // 0: never
  bool linearizable_only = false;
};

inline Op random_op(std::mt19937_64& rng, const OpMix& mix) {
  Op op;
  op.key = static_cast<Key>(rng() % static_cast<std::uint64_t>(mix.key_range));
  op.a = static_cast<Value>(rng() % static_cast<std::uint64_t>(mix.value_range));
  op.b = static_cast<Value>(rng() % static_cast<std::uint64_t>(mix.value_range));
  if (mix.linearizable_only) {
    op.kind = static_cast<OpKind>(rng() % kLinearizableOpKinds);
    return op;
  }
  if (mix.clear_one_in && rng() % mix.clear_one_in == 0) {
    op.kind = OpKind::kClear;
  } else if (mix.exact_size_one_in && rng() % mix.exact_size_one_in == 0) {
    op.kind = rng() % 2 ? OpKind::kExactSize : OpKind::kRange;
    op.limit = rng() % 2 ? ~std::size_t{0} : 1 + rng() % 8;  // the callback runs at least once
  } else {
    // kLoad .. kVisit plus kSize (O(1)), uniformly.
    const int pick = static_cast<int>(rng() % (kLinearizableOpKinds + 1));
    op.kind = pick == kLinearizableOpKinds ? OpKind::kSize : static_cast<OpKind>(pick);
  }
  return op;
}

}  // namespace syncscope::map::testing
