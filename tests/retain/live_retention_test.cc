// The retention scan on the real heap (exact mode on): the article's chain
// built in C++ — a detached thread's closure holds a shared_ptr<Value>, the
// Value holds a vector<Node*>, one Node holds the target — found from that
// thread's stack with every hop's site and offset; globals named; leaks
// reported unreachable; the retention profile read by `go tool pprof`.
#include <gtest/gtest.h>
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <numeric>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/go_pprof.h"
#include "syncscope/prof/heap_profiler.h"
#include "syncscope/prof/live_blocks.h"
#include "syncscope/retain/retention.h"

namespace syncscope::retain {
namespace {

// Addresses are kept XOR-ed so the test's own stack does not point at them.
constexpr std::uintptr_t kHide = 0x5a5a5a5a5a5a5a5aull;

struct Target {
  char payload[8192];
};
struct Node {
  std::uint64_t id;
  char pad[24];
  Target* target;
};
struct Value {
  std::vector<Node*> nodes;
};

std::atomic<bool> g_release{false};
std::atomic<int> g_holders_ready{0};
// A global root for the global-versus-stack test.
Target* volatile g_direct_holder = nullptr;  // volatile: a never-read global store must stay

void wait_holders(int n) {
  while (g_holders_ready.load() < n) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

__attribute__((noinline)) Target* make_target() { return new Target(); }
__attribute__((noinline)) Node* make_node(std::uint64_t id, Target* t) { return new Node{id, {}, t}; }
__attribute__((noinline)) std::shared_ptr<Value> make_value() { return std::make_shared<Value>(); }
__attribute__((noinline)) void fill_nodes(Value& v, Target* t) {
  v.nodes.reserve(8);
  for (std::uint64_t i = 0; i < 8; ++i) v.nodes.push_back(make_node(i, i == 3 ? t : nullptr));
}

// The detached "goroutine": its closure holds the only reference to the Value.
__attribute__((noinline)) void spawn_holder(std::shared_ptr<Value> value) {
  std::thread([value = std::move(value)] {
    pthread_setname_np(pthread_self(), "retain-holder");
    g_holders_ready.fetch_add(1);
    while (!g_release.load()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }).detach();
}

// Builds the chain on a helper thread (joined), so no stack of the test
// thread ever held a pointer into it. Returns the hidden target address.
std::uintptr_t build_chain() {
  std::uintptr_t hidden = 0;
  const int ready = g_holders_ready.load();
  std::thread([&] {
    Target* t = make_target();
    std::shared_ptr<Value> v = make_value();
    fill_nodes(*v, t);
    hidden = reinterpret_cast<std::uintptr_t>(t) ^ kHide;
    spawn_holder(std::move(v));
  }).join();
  wait_holders(ready + 1);
  return hidden;
}

// A detached thread whose stack holds `t` directly (one hop).
__attribute__((noinline)) void spawn_stack_holder(Target* t) {
  std::thread([hidden = reinterpret_cast<std::uintptr_t>(t) ^ kHide] {
    pthread_setname_np(pthread_self(), "retain-stack");
    Target* volatile keep = reinterpret_cast<Target*>(hidden ^ kHide);
    g_holders_ready.fetch_add(1);
    while (!g_release.load()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    (void)keep;
  }).detach();
}

struct Box {
  Value* inner;
};
Box* volatile g_box = nullptr;  // global -> Box -> Value(nodes) -> Node -> target: a long global path

__attribute__((noinline)) Box* make_box(Value* v) { return new Box{v}; }

// The path to the chain's target (queried at +100) and its text; asserts
// the shape every block source must give: found, reachable, six hops, the
// holder thread's stack as root.
RetentionPath chain_path(const RetentionSnapshot& snap, std::uintptr_t target, std::string& text) {
  RetentionPath p = snap.path_to(target + 100);
  text = to_text(p);
  std::cout << text;
  EXPECT_TRUE(p.found);
  EXPECT_TRUE(p.reachable) << text;
  if (p.hops.size() != 6u) {
    ADD_FAILURE() << "want 6 hops: " << text;
    return {};
  }
  EXPECT_TRUE(p.hops[0].is_root);
  EXPECT_EQ(p.hops[0].root_kind, RootKind::kStack) << text;
  EXPECT_NE(p.hops[0].name.find("retain-holder"), std::string::npos) << text;
  return p;
}

class LiveRetention : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { prof::HeapProfiler::set_exact_mode(true); }
};

TEST_F(LiveRetention, KnownChain_EveryHopAndSiteFromThreadStack) {
  // volatile: the test's own stack must not hold the plain address while scanned.
  const volatile std::uintptr_t hidden = build_chain();
  absl::StatusOr<RetentionSnapshot> snap = take_snapshot();
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_GE(snap->stats().threads_paused, 1u);
  const std::uintptr_t target = hidden ^ kHide;
  std::string text;
  const RetentionPath p = chain_path(*snap, target, text);
  ASSERT_EQ(p.hops.size(), 6u);
  // closure (std::thread state) allocated in spawn_holder; the shared_ptr in it.
  EXPECT_EQ(p.hops[1].name, "syncscope::retain::(anonymous namespace)::spawn_holder") << text;
  EXPECT_TRUE(p.hops[1].offset == 8 || p.hops[1].offset == 16) << text;
  // Value inside make_shared's control block (16 bytes of counts first).
  EXPECT_EQ(p.hops[2].name, "syncscope::retain::(anonymous namespace)::make_value") << text;
  EXPECT_EQ(p.hops[2].offset, 16u + offsetof(Value, nodes)) << text;
  // vector<Node*> buffer: Node 3 sits at slot 3.
  EXPECT_EQ(p.hops[3].name, "syncscope::retain::(anonymous namespace)::fill_nodes") << text;
  EXPECT_EQ(p.hops[3].size, 8 * sizeof(Node*));
  EXPECT_EQ(p.hops[3].offset, 3 * sizeof(Node*)) << text;
  EXPECT_EQ(p.hops[4].name, "syncscope::retain::(anonymous namespace)::make_node") << text;
  EXPECT_EQ(p.hops[4].size, sizeof(Node));
  EXPECT_EQ(p.hops[4].offset, offsetof(Node, target)) << text;
  EXPECT_EQ(p.hops[5].name, "syncscope::retain::(anonymous namespace)::make_target") << text;
  EXPECT_EQ(p.hops[5].size, sizeof(Target));
  EXPECT_EQ(p.hops[5].offset, 100u);
  EXPECT_GE(p.retained_bytes, sizeof(Target));
  // The report never prints the target's address.
  char hex[32];
  std::snprintf(hex, sizeof hex, "%zx", static_cast<std::size_t>(target));
  EXPECT_EQ(text.find(hex), std::string::npos);
  EXPECT_EQ(to_json(p).find(hex), std::string::npos);
}

// The same chain through the glibc heap walk instead of the exact table:
// the same hops and offsets; sizes are usable sizes (malloc's rounding).
// Both ways of running the walk: in a copy-on-write child (the default: the
// program resumes after the fork) and inside the pause.
class LiveRetentionWalk : public LiveRetention, public ::testing::WithParamInterface<bool> {};

TEST_P(LiveRetentionWalk, KnownChain_HeapWalkFindsTheSameHops) {
  const volatile std::uintptr_t hidden = build_chain();
  Options options;
  options.block_source = BlockSource::kHeapWalk;
  options.scan_in_child = GetParam();
  absl::StatusOr<RetentionSnapshot> snap = take_snapshot(options);
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_EQ(snap->stats().block_source, BlockSource::kHeapWalk);
  EXPECT_EQ(snap->stats().scanned_in_child, GetParam());
  EXPECT_EQ(snap->stats().child_private_bytes > 0, GetParam()) << "the child reports what it cost in memory";
  EXPECT_GT(snap->stats().heap_bytes_walked, 0u);
  // The scan's own CPU time comes back from wherever the scan ran; in the
  // pause it is part of the pause's CPU time.
  EXPECT_GT(snap->stats().scan_cpu_ns, 0u);
  if (!GetParam()) {
    EXPECT_LE(snap->stats().scan_cpu_ns, snap->stats().pause_cpu_ns);
  }
  std::string text;
  const RetentionPath p = chain_path(*snap, hidden ^ kHide, text);
  ASSERT_EQ(p.hops.size(), 6u);
  EXPECT_TRUE(p.hops[1].offset == 8 || p.hops[1].offset == 16) << text;
  // Unsampled blocks are named by their vtable's type, or by size.
  EXPECT_EQ(p.hops[1].name, "std::thread state of syncscope::retain::(anonymous namespace)::spawn_holder") << text;
  EXPECT_EQ(p.hops[2].name, "syncscope::retain::(anonymous namespace)::Value (make_shared)") << text;
  EXPECT_EQ(p.hops[2].offset, 16u + offsetof(Value, nodes)) << text;
  EXPECT_EQ(p.hops[3].name, std::to_string(p.hops[3].size) + "-byte block") << text;
  EXPECT_GE(p.hops[3].size, 8 * sizeof(Node*));
  EXPECT_EQ(p.hops[3].offset, 3 * sizeof(Node*)) << text;
  EXPECT_GE(p.hops[4].size, sizeof(Node));
  EXPECT_EQ(p.hops[4].offset, offsetof(Node, target)) << text;
  EXPECT_GE(p.hops[5].size, sizeof(Target));
  EXPECT_EQ(p.hops[5].offset, 100u);
}

INSTANTIATE_TEST_SUITE_P(ScanPlaces, LiveRetentionWalk, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& p) { return p.param ? "InChild" : "InPause"; });

// "Why is my Value alive?" by type, with exact mode off: make_shared's
// control block names its T through the vtable.
TEST_F(LiveRetention, PathsToType_HeapWalkFindsMakeSharedValue) {
  const volatile std::uintptr_t hidden = build_chain();
  (void)hidden;
  Options options;
  options.block_source = BlockSource::kHeapWalk;
  absl::StatusOr<RetentionSnapshot> snap = take_snapshot(options);
  ASSERT_TRUE(snap.ok()) << snap.status();
  const std::vector<RetentionPath> paths = snap->paths_to_type("Value", 50);
  ASSERT_FALSE(paths.empty());
  const std::string text = to_text(paths);
  const RetentionPath& p = paths.front();
  ASSERT_TRUE(p.reachable) << text;
  ASSERT_EQ(p.hops.size(), 3u) << text;  // holder's stack -> thread state -> Value's block
  EXPECT_NE(p.hops[0].name.find("retain-holder"), std::string::npos) << text;
  EXPECT_EQ(p.hops[2].name, "syncscope::retain::(anonymous namespace)::Value (make_shared)") << text;
  EXPECT_TRUE(snap->paths_to_type("alue").empty()) << "a type matches whole names only";
}

TEST_F(LiveRetention, GlobalVersusStack_ShortestPathChosen) {
  volatile std::uintptr_t near_global = 0, near_stack = 0;
  const int ready = g_holders_ready.load();
  std::thread([&] {
    // A: reachable from a global directly and from a thread's closure chain.
    Target* a = make_target();
    g_direct_holder = a;
    std::shared_ptr<Value> va = make_value();
    fill_nodes(*va, a);
    spawn_holder(std::move(va));
    // B: reachable from a global through 3 blocks and from a stack directly.
    Target* b = make_target();
    auto* vb = new Value();
    fill_nodes(*vb, b);
    g_box = make_box(vb);
    spawn_stack_holder(b);
    near_global = reinterpret_cast<std::uintptr_t>(a) ^ kHide;
    near_stack = reinterpret_cast<std::uintptr_t>(b) ^ kHide;
  }).join();
  wait_holders(ready + 2);
  absl::StatusOr<RetentionSnapshot> snap = take_snapshot();
  ASSERT_TRUE(snap.ok()) << snap.status();

  const RetentionPath pa = snap->path_to(near_global ^ kHide);
  ASSERT_TRUE(pa.reachable) << to_text(pa);
  ASSERT_EQ(pa.hops.size(), 2u) << to_text(pa);
  EXPECT_EQ(pa.hops[0].root_kind, RootKind::kGlobal);
  EXPECT_NE(pa.hops[0].name.find("g_direct_holder"), std::string::npos) << to_text(pa);
  EXPECT_NE(pa.hops[0].name.find("g_direct_holder ("), std::string::npos);  // at the symbol start
  // The same as fields: what scripts read instead of the display name.
  EXPECT_EQ(pa.hops[0].root.symbol, "syncscope::retain::(anonymous namespace)::g_direct_holder");
  EXPECT_EQ(pa.hops[0].root.module, "main executable");
  EXPECT_EQ(pa.hops[0].root.thread_id, 0);

  const RetentionPath pb = snap->path_to(near_stack ^ kHide);
  ASSERT_TRUE(pb.reachable) << to_text(pb);
  ASSERT_EQ(pb.hops.size(), 2u) << to_text(pb);
  EXPECT_EQ(pb.hops[0].root_kind, RootKind::kStack) << to_text(pb);
  EXPECT_NE(pb.hops[0].name.find("retain-stack"), std::string::npos) << to_text(pb);
  EXPECT_EQ(pb.hops[0].root.thread_name, "retain-stack");
  EXPECT_GT(pb.hops[0].root.thread_id, 0);
  EXPECT_EQ(pb.hops[0].name, render_root(RootKind::kStack, pb.hops[0].root)) << "display is rendered from fields";
}

// Retained sizes on a heap whose shape the test controls, against an answer
// computed here by brute force from the test's own record of the pointers
// it stored (not from the scanned graph): a block's retained size is the
// bytes of the blocks no root reaches once that block is removed. The shape
// has a shared child (D, held by B and C), a cycle (F <-> G) and a chain,
// so dominance differs from ownership; sizes differ so a misattributed
// block changes a sum.
struct DomNode {
  DomNode* out[2];
  // The rest of the block is zeroed padding (calloc): no stray pointers.
};
DomNode* volatile g_dom_root = nullptr;  // the one root of the shape

TEST_F(LiveRetention, RetainedSizes_MatchBruteForceDominatorsOnAControlledHeap) {
  constexpr int kA = 0, kB = 1, kC = 2, kD = 3, kE = 4, kF = 5, kG = 6, kH = 7, kNodes = 8;
  const std::vector<std::vector<int>> edges = {
      /*A*/ {kB, kC}, /*B*/ {kD, kF}, /*C*/ {kD, kH}, /*D*/ {kE}, /*E*/ {}, /*F*/ {kG},
      /*G*/ {kF},     /*H*/ {}};
  std::vector<std::size_t> sizes(kNodes);
  for (int n = 0; n < kNodes; ++n) sizes[n] = 256 + 512 * static_cast<std::size_t>(n);
  // Built on a helper thread (joined), addresses kept XOR-ed: no stack of
  // this thread holds a pointer into the shape.
  std::vector<std::uintptr_t> hidden(kNodes);
  std::thread([&] {
    std::vector<DomNode*> n(kNodes);
    for (int i = 0; i < kNodes; ++i) n[i] = static_cast<DomNode*>(std::calloc(1, sizes[i]));
    for (int i = 0; i < kNodes; ++i) {
      for (std::size_t e = 0; e < edges[i].size(); ++e) n[i]->out[e] = n[edges[i][e]];
      hidden[i] = reinterpret_cast<std::uintptr_t>(n[i]) ^ kHide;
    }
    g_dom_root = n[kA];
  }).join();

  // The oracle: for each x, the blocks unreachable from A once x is gone.
  auto retained_without = [&](int x) {
    std::vector<bool> seen(kNodes, false);
    std::vector<int> todo;
    if (x != kA) {
      seen[kA] = true;
      todo.push_back(kA);
    }
    while (!todo.empty()) {
      const int n = todo.back();
      todo.pop_back();
      for (int m : edges[n]) {
        if (m == x || seen[m]) continue;
        seen[m] = true;
        todo.push_back(m);
      }
    }
    std::uint64_t bytes = 0;
    for (int n = 0; n < kNodes; ++n) bytes += seen[n] ? 0 : sizes[n];
    return bytes;
  };

  absl::StatusOr<RetentionSnapshot> snap = take_snapshot();
  g_dom_root = nullptr;
  ASSERT_TRUE(snap.ok()) << snap.status();
  const char* names = "ABCDEFGH";
  for (int x = 0; x < kNodes; ++x) {
    const RetentionPath p = snap->path_to((hidden[x] ^ kHide) + 8);
    SCOPED_TRACE(std::string("block ") + names[x] + "\n" + to_text(p));
    ASSERT_TRUE(p.found);
    EXPECT_TRUE(p.reachable);
    EXPECT_EQ(p.target_size, sizes[x]);
    EXPECT_EQ(p.retained_bytes, retained_without(x));
  }
  // The oracle itself: A holds everything; D holds D and E only (C and B
  // share it); F and G hold each other only through the cycle.
  EXPECT_EQ(retained_without(kA), std::accumulate(sizes.begin(), sizes.end(), std::uint64_t{0}));
  EXPECT_EQ(retained_without(kD), sizes[kD] + sizes[kE]);
  EXPECT_EQ(retained_without(kB), sizes[kB] + sizes[kF] + sizes[kG]);
  for (std::uintptr_t h : hidden) std::free(reinterpret_cast<void*>(h ^ kHide));
}

TEST_F(LiveRetention, UnreferencedBlock_ReportedUnreachable) {
  volatile std::uintptr_t hidden = 0;
  std::thread([&] { hidden = reinterpret_cast<std::uintptr_t>(make_target()) ^ kHide; }).join();
  absl::StatusOr<RetentionSnapshot> snap = take_snapshot();
  ASSERT_TRUE(snap.ok()) << snap.status();
  const RetentionPath p = snap->path_to((hidden ^ kHide) + 8);
  EXPECT_TRUE(p.found);
  EXPECT_FALSE(p.reachable) << to_text(p);
  EXPECT_NE(to_text(p).find("UNREACHABLE"), std::string::npos);
  EXPECT_FALSE(snap->path_to(reinterpret_cast<std::uintptr_t>(&g_release)).found);
}

TEST_F(LiveRetention, RetentionProfile_GoPprofTopEntryIsChainHolder) {
  const volatile std::uintptr_t hidden = build_chain();
  absl::StatusOr<RetentionSnapshot> snap = take_snapshot();
  ASSERT_TRUE(snap.ok()) << snap.status();
  const RetentionPath chain = snap->path_to(hidden ^ kHide);
  ASSERT_TRUE(chain.reachable);
  ASSERT_EQ(chain.hops.size(), 6u) << to_text(chain);
  ::syncscope::test_support::ScratchDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string file = dir.file("retained.pb.gz");
  const absl::Status written = snap->write_retention_profile(file);
  ASSERT_TRUE(written.ok()) << written;
  int status = 0;
  const std::string out = ::syncscope::test_support::go_pprof(
      dir, "-top -cum -sample_index=retained_space -nodecount=20 -focus=retain-holder", file, &status);
  ASSERT_EQ(status, 0) << out;
  std::cout << out;
  // Focused on the holder thread's samples (the process holds other memory
  // too, e.g. the symbolizer's caches when an earlier test symbolized), the
  // first entry that is not a root frame is the closure that holds the chain.
  std::istringstream lines(out);
  std::string line;
  bool table = false;
  std::string first;
  while (std::getline(lines, line)) {
    if (line.find("flat%") != std::string::npos) {
      table = true;
      continue;
    }
    if (!table || line.find("root: ") != std::string::npos) continue;
    first = line;
    break;
  }
  EXPECT_NE(first.find("spawn_holder"), std::string::npos) << out;
  EXPECT_NE(out.find("root: thread 'retain-holder'"), std::string::npos) << out;
  EXPECT_NE(out.find("make_target"), std::string::npos) << out;
}

std::vector<Node*>* volatile g_growing = nullptr;  // global -> vector -> nodes

__attribute__((noinline)) void grow_cache(int n) {
  if (g_growing == nullptr) g_growing = new std::vector<Node*>();
  for (int i = 0; i < n; ++i) g_growing->push_back(make_node(static_cast<std::uint64_t>(i), nullptr));
}

TEST_F(LiveRetention, Growth_SiteThatGrewReportedWithPath) {
  std::thread([] { grow_cache(10); }).join();
  absl::StatusOr<RetentionSnapshot> before = take_snapshot();
  ASSERT_TRUE(before.ok()) << before.status();
  std::thread([] { grow_cache(500); }).join();
  absl::StatusOr<RetentionSnapshot> after = take_snapshot();
  ASSERT_TRUE(after.ok()) << after.status();
  // Not only the test's site grows: the `before` snapshot itself and the
  // symbolizer's caches are real heap too, so look beyond the top few.
  const std::vector<SiteGrowth> grown = growth(*before, *after, 100);
  const std::string text = to_text(grown);
  ASSERT_FALSE(grown.empty()) << text;
  const auto node = std::find_if(grown.begin(), grown.end(), [](const SiteGrowth& g) {
    return g.site_name.find("make_node") != std::string::npos;
  });
  ASSERT_NE(node, grown.end()) << text;
  EXPECT_GE(node->objects_after - node->objects_before, 500u) << text;
  EXPECT_TRUE(node->example_path.reachable) << text;
  ASSERT_FALSE(node->example_path.hops.empty());
  EXPECT_EQ(node->example_path.hops[0].root_kind, RootKind::kGlobal) << text;
  EXPECT_NE(node->example_path.hops[0].name.find("g_growing"), std::string::npos) << text;
}

}  // namespace
}  // namespace syncscope::retain
