// libFuzzer target: interprets the input as a sequence of map operations,
// applies each to all five maps and to ModelMap, and aborts on the first
// result that differs (or on any memory error ASan sees).
//
// Input format, repeated until the bytes run out (FuzzedDataProvider):
//   op kind (1 byte, modulo the number of kinds), key (1 byte: keys 0..63,
//   so operations collide), value a and b (1 byte each, modulo 8), range limit
//   (1 byte). Every few hundred ops the whole contents are compared too.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "conformance/map_model.h"
#include "syncscope/map/maps.h"

namespace syncscope::map::testing {
namespace {

constexpr std::size_t kMaxOps = 4096;

template <class M>
void check_contents(M& m, const ModelMap& model, const char* name) {
  std::size_t n = 0;
  m.range([&](const Key& k, const Value& v) {
    ++n;
    auto it = model.contents().find(k);
    if (it == model.contents().end() || it->second != v) {
      std::fprintf(stderr, "%s: range saw (%lld, %lld) not in the model\n", name,
                   static_cast<long long>(k), static_cast<long long>(v));
      std::abort();
    }
  });
  if (n != model.contents().size() || m.exact_size() != n || m.size() != n) {
    std::fprintf(stderr, "%s: %zu keys visited, exact_size %zu, size %zu, model %zu\n", name, n,
                 m.exact_size(), m.size(), model.contents().size());
    std::abort();
  }
}

template <class M>
void apply_checked(M& m, const Op& op, const OpResult& expected, const ModelMap& model,
                   const char* name) {
  const OpResult actual = apply_to_map(m, op);
  std::string why;
  if (!results_match(op, expected, actual, model, &why)) {
    std::fprintf(stderr, "%s: %s: %s\n", name, describe(op).c_str(), why.c_str());
    std::abort();
  }
}

Op decode(FuzzedDataProvider& in) {
  Op op;
  op.kind = static_cast<OpKind>(in.ConsumeIntegral<std::uint8_t>() % kOpKinds);
  op.key = in.ConsumeIntegral<std::uint8_t>() % 64;
  op.a = in.ConsumeIntegral<std::uint8_t>() % 8;
  op.b = in.ConsumeIntegral<std::uint8_t>() % 8;
  op.limit = 1 + in.ConsumeIntegral<std::uint8_t>() % 16;
  return op;
}

}  // namespace
}  // namespace syncscope::map::testing

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace syncscope::map;
  using namespace syncscope::map::testing;
  FuzzedDataProvider in(data, size);
  ReadMostlyMap<Key, Value> rm;
  LockedMap<Key, Value> lm;
  ShardedMapOptions so;
  so.shards = 4;
  ShardedMap<Key, Value> sm(so);
  PooledMapOptions po;
  po.shards = 2;
  PooledShardedMap<Key, Value>::set_max_cached_nodes_per_thread(8);
  PooledShardedMap<Key, Value> pm(po);
  FlatGroupMap<Key, Value> fm;  // grows past 30 keys and shrinks back: keys are 0..63
  ModelMap model;
  for (std::size_t i = 0; i < kMaxOps && in.remaining_bytes() > 0; ++i) {
    const Op op = decode(in);
    const OpResult expected = model.apply(op);
    apply_checked(rm, op, expected, model, "ReadMostlyMap");
    apply_checked(lm, op, expected, model, "LockedMap");
    apply_checked(sm, op, expected, model, "ShardedMap");
    apply_checked(pm, op, expected, model, "PooledShardedMap");
    apply_checked(fm, op, expected, model, "FlatGroupMap");
    if (i % 256 == 255) {
      check_contents(rm, model, "ReadMostlyMap");
      check_contents(pm, model, "PooledShardedMap");
      check_contents(fm, model, "FlatGroupMap");
    }
  }
  check_contents(rm, model, "ReadMostlyMap");
  check_contents(lm, model, "LockedMap");
  check_contents(sm, model, "ShardedMap");
  check_contents(pm, model, "PooledShardedMap");
  check_contents(fm, model, "FlatGroupMap");
  return 0;
}
