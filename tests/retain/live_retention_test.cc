// The retention scan on the real heap (exact mode on): the article's chain
// built in C++ — a detached thread's closure holds a shared_ptr<Value>, the
// Value holds a vector<Node*>, one Node holds the target — found from that
// thread's stack with every hop's site and offset; globals named; leaks
// reported unreachable; the retention profile read by `go tool pprof`.
#include <gtest/gtest.h>
#include <pthread.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "prof/pprof_tool.h"
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
  std::thread([&] {
    Target* t = make_target();
    std::shared_ptr<Value> v = make_value();
    fill_nodes(*v, t);
    hidden = reinterpret_cast<std::uintptr_t>(t) ^ kHide;
    spawn_holder(std::move(v));
  }).join();
  while (g_holders_ready.load() < 1) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return hidden;
}

class LiveRetention : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { prof::LiveBlockTable::instance().set_enabled(true); }
};

TEST_F(LiveRetention, KnownChain_EveryHopAndSiteFromThreadStack) {
  const std::uintptr_t target = build_chain() ^ kHide;
  absl::StatusOr<RetentionSnapshot> snap = take_snapshot();
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_GE(snap->stats().threads_paused, 1u);
  const RetentionPath p = snap->path_to(target + 100);
  const std::string text = to_text(p);
  std::cout << text;
  ASSERT_TRUE(p.found);
  ASSERT_TRUE(p.reachable) << text;
  ASSERT_EQ(p.hops.size(), 6u) << text;
  // root: the holder thread's stack.
  EXPECT_TRUE(p.hops[0].is_root);
  EXPECT_EQ(p.hops[0].root_kind, RootKind::kStack) << text;
  EXPECT_NE(p.hops[0].name.find("retain-holder"), std::string::npos) << text;
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

}  // namespace
}  // namespace syncscope::retain
