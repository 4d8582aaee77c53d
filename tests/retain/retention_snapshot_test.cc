// RetentionSnapshot queries and reports on synthetic graphs: paths with
// names and offsets, unreachable blocks, leak suspects without double
// counting, growth, leaked tasks (fixpoint over task stacks), JSON shape.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <memory>
#include <string>

#include "retain/snapshot_impl.h"
#include "retain/block_labels.h"
#include "syncscope/retain/retention.h"

namespace syncscope::retain {
namespace {

constexpr std::uintptr_t kBase = 0x200000;
std::uintptr_t addr(std::size_t i) { return kBase + i * 0x1000; }

// Sites: 1 = Holder, 2 = Value, 3 = Node, 4 = Target, 5 = TaskRecord, 9 = Orphan.
SiteDescription describe(std::uint32_t site) {
  switch (site) {
    case 1: return {"make_holder", {"make_holder holder.cc:10"}};
    case 2: return {"make_value", {"make_value value.cc:20", "make_holder holder.cc:11"}};
    case 3: return {"make_node", {"make_node node.cc:30"}};
    case 4: return {"make_target", {"make_target target.cc:40"}};
    case 5: return {"syncscope::task::internal::create_task", {}};
    default: return {"orphan_site", {}};
  }
}

Root root(RootKind kind, const char* name, std::int32_t thread = -1) {
  Root r;
  r.kind = kind;
  r.name = name;
  r.size = 4096;
  r.thread = thread;
  return r;
}

// global -> Holder(0) -> Value(1) -> Node(2..11) ; Node(5) -> Target(12); Orphan(13) unreachable.
ObjectGraph chain_graph(std::size_t extra_nodes = 0) {
  GraphBuilder b;
  b.add_block(addr(0), 64, 1);
  b.add_block(addr(1), 48, 2);
  for (std::size_t i = 0; i < 10 + extra_nodes; ++i) b.add_block(addr(100 + i), 32, 3);
  b.add_block(addr(50), 1000, 4);
  b.add_block(addr(60), 16, 9);
  const auto g = b.add_root(root(RootKind::kGlobal, "global g_holder"));
  b.add_root_edge_at(g, 8, addr(0));
  b.add_edge_at(addr(0), 16, addr(1));
  for (std::size_t i = 0; i < 10 + extra_nodes; ++i) b.add_edge_at(addr(1), 8 * i, addr(100 + i));
  b.add_edge_at(addr(105), 24, addr(50) + 100);  // interior pointer into the target
  return std::move(b).build();
}

TEST(RetentionSnapshot, PathTo_NamesEveryHopWithOffsets) {
  const auto snap = RetentionSnapshot::from_graph(chain_graph(), describe);
  const RetentionPath p = snap.path_to(addr(50) + 7);
  ASSERT_TRUE(p.found);
  ASSERT_TRUE(p.reachable);
  EXPECT_EQ(p.target_site_name, "make_target");
  EXPECT_EQ(p.target_size, 1000u);
  ASSERT_EQ(p.hops.size(), 5u);
  EXPECT_TRUE(p.hops[0].is_root);
  EXPECT_EQ(p.hops[0].name, "global g_holder");
  EXPECT_EQ(p.hops[0].offset, 8u);
  EXPECT_EQ(p.hops[1].name, "make_holder");
  EXPECT_EQ(p.hops[1].offset, 16u);
  EXPECT_EQ(p.hops[1].size, 64u);
  EXPECT_EQ(p.hops[2].name, "make_value");
  EXPECT_EQ(p.hops[2].offset, 40u);  // node 5 sits at slot 5 of the vector
  EXPECT_EQ(p.hops[3].name, "make_node");
  EXPECT_EQ(p.hops[3].offset, 24u);
  EXPECT_EQ(p.hops[4].name, "make_target");
  EXPECT_EQ(p.hops[4].offset, 7u);
  const std::string text = to_text(p);
  EXPECT_NE(text.find("global g_holder"), std::string::npos) << text;
  EXPECT_NE(text.find("make_node (32 B) at node.cc:30  pointer at +0x18"), std::string::npos) << text;
  const auto j = nlohmann::json::parse(to_json(p));
  ASSERT_EQ(j["path"].size(), 5u);
  EXPECT_EQ(j["path"][0]["kind"], "global");
  EXPECT_EQ(j["path"][3]["site"], "make_node");
  EXPECT_EQ(j["path"][3]["offset"], 24);
  EXPECT_EQ(j["path"][3]["size"], 32);
}

TEST(RetentionSnapshot, UnreachableAndUnknownAddresses) {
  const auto snap = RetentionSnapshot::from_graph(chain_graph(), describe);
  const RetentionPath orphan = snap.path_to(addr(60));
  EXPECT_TRUE(orphan.found);
  EXPECT_FALSE(orphan.reachable);
  EXPECT_TRUE(orphan.hops.empty());
  EXPECT_NE(to_text(orphan).find("UNREACHABLE"), std::string::npos);
  EXPECT_FALSE(snap.path_to(addr(70)).found);
}

TEST(RetentionSnapshot, PathsToSite_ReachableShortestFirst) {
  const auto snap = RetentionSnapshot::from_graph(chain_graph(), describe);
  const auto nodes = snap.paths_to_site("make_node", 3);
  ASSERT_EQ(nodes.size(), 3u);
  for (const auto& p : nodes) EXPECT_EQ(p.hops.size(), 4u);
  const auto orphans = snap.paths_to_site("orphan");
  ASSERT_EQ(orphans.size(), 1u);
  EXPECT_FALSE(orphans[0].reachable);
  // Frames are searched too.
  EXPECT_EQ(snap.paths_to_site("value.cc").size(), 1u);
  EXPECT_TRUE(snap.paths_to_site("no_such_function").empty());
}

TEST(RetentionSnapshot, TopRetainers_SiteCountedOnceAndSorted) {
  const auto snap = RetentionSnapshot::from_graph(chain_graph(), describe);
  const auto top = snap.top_retainers(10);
  ASSERT_GE(top.size(), 4u);
  EXPECT_EQ(top[0].site_name, "make_holder");
  EXPECT_EQ(top[0].retained_bytes, 64u + 48u + 10 * 32u + 1000u);
  EXPECT_EQ(top[1].site_name, "make_value");
  // Target (1000) retained by node 5: the Node site retains 10*32 + 1000.
  EXPECT_EQ(top[2].site_name, "make_node");
  EXPECT_EQ(top[2].retained_bytes, 10 * 32u + 1000u);
  EXPECT_EQ(top[2].live_objects, 10u);
  EXPECT_EQ(top[2].example_path.hops.back().name, "make_node");
  const std::string text = to_text(top);
  EXPECT_NE(text.find("retained by make_holder"), std::string::npos) << text;
}

TEST(RetentionSnapshot, TopRetainers_NestedSameSiteNotDoubleCounted) {
  // A linked list: global -> n0 -> n1 -> ... -> n9, all one site.
  GraphBuilder b;
  for (std::size_t i = 0; i < 10; ++i) b.add_block(addr(i), 10, 3);
  const auto g = b.add_root(root(RootKind::kGlobal, "g"));
  b.add_root_edge_at(g, 0, addr(0));
  for (std::size_t i = 0; i + 1 < 10; ++i) b.add_edge_at(addr(i), 0, addr(i + 1));
  const auto snap = RetentionSnapshot::from_graph(std::move(b).build(), describe);
  const auto top = snap.top_retainers(5);
  ASSERT_EQ(top.size(), 1u);
  EXPECT_EQ(top[0].retained_bytes, 100u);
  EXPECT_EQ(top[0].retained_objects, 10u);
}

TEST(RetentionSnapshot, Growth_ReportsGrownSitesWithPath) {
  const auto before = RetentionSnapshot::from_graph(chain_graph(), describe);
  const auto after = RetentionSnapshot::from_graph(chain_graph(20), describe);
  const auto grown = growth(before, after);
  ASSERT_EQ(grown.size(), 1u);
  EXPECT_EQ(grown[0].site_name, "make_node");
  EXPECT_EQ(grown[0].bytes_before, 320u);
  EXPECT_EQ(grown[0].bytes_after, 960u);
  EXPECT_EQ(grown[0].objects_after, 30u);
  EXPECT_TRUE(grown[0].example_path.reachable);
  EXPECT_TRUE(growth(after, before).empty());
  const auto j = nlohmann::json::parse(to_json(std::span<const SiteGrowth>(grown)));
  EXPECT_EQ(j[0]["bytes_after"], 960);
}

TEST(RetentionSnapshot, LeakedTasks_FixpointOverTaskStacks) {
  // Roots: 0 global, 1..6 stacks of tasks A..F (thread index = root index).
  GraphBuilder b;
  for (std::size_t i = 0; i < 8; ++i) b.add_block(addr(i), 64, 2);  // W1..W6 at 0..5, H at 6
  b.add_block(addr(7) + 0x800, 64, 5);  // a registry record
  const auto global = b.add_root(root(RootKind::kGlobal, "g"));
  std::size_t stack[7];
  for (std::size_t t = 1; t <= 6; ++t) stack[t] = b.add_root(root(RootKind::kStack, "task", static_cast<std::int32_t>(t)));
  b.add_root_edge_at(stack[1], 0, addr(0));        // A waits on W1; only A's stack has it
  b.add_root_edge_at(global, 0, addr(6));          // H reachable from a global
  b.add_edge_at(addr(6), 0, addr(1));              // H holds W2 (B's promise): B not leaked
  b.add_root_edge_at(stack[4], 0, addr(2));        // D's stack holds W3 (C waits on it)
  b.add_edge_at(addr(6), 8, addr(3));              // H holds W4 (D waits on it): D, hence C, wakeable
  b.add_root_edge_at(stack[5], 0, addr(5));        // E holds W6, F holds W5: deadlock
  b.add_root_edge_at(stack[6], 0, addr(4));
  b.add_root_edge_at(global, 8, addr(7) + 0x800);  // registry record, reachable
  b.add_edge_at(addr(7) + 0x800, 0, addr(0));      // it records W1's address: bookkeeping only
  auto impl = std::make_unique<SnapshotImpl>();
  impl->graph = std::move(b).build();
  impl->describe = describe;
  const char* names = "ABCDEF";
  for (std::size_t t = 1; t <= 6; ++t) {
    TaskRecord r;
    r.id = t;
    r.name = std::string(1, names[t - 1]);
    r.spawn_site = "test.cc:1";
    r.blocking_reason = "future";
    r.blocked = true;
    r.wait_object_hidden = hide_address(addr(t - 1) + 16);
    r.own_roots = {stack[t]};
    impl->tasks.push_back(r);
  }
  const RetentionSnapshot snap = internal::SnapshotAccess::make(analyse(std::move(impl), true));
  const auto leaked = snap.leaked_tasks();
  ASSERT_EQ(leaked.size(), 3u) << to_text(leaked);
  EXPECT_EQ(leaked[0].name, "A");
  EXPECT_EQ(leaked[1].name, "E");
  EXPECT_EQ(leaked[2].name, "F");
  EXPECT_EQ(leaked[0].wait_object_site, "make_value");
  EXPECT_NE(to_text(leaked).find("task 1 \"A\""), std::string::npos);
}

TEST(ParseAddress, AcceptsHexAndDecimal_RejectsGarbage) {
  EXPECT_EQ(*parse_address("0x10"), 16u);
  EXPECT_EQ(*parse_address("42"), 42u);
  EXPECT_FALSE(parse_address("").ok());
  EXPECT_FALSE(parse_address("0x").ok());
  EXPECT_FALSE(parse_address("12abc").ok());
  EXPECT_FALSE(parse_address("0xfffffffffffffffffffff").ok());
}

}  // namespace

TEST(BlockLabels, TypeMatches_WholeQualifiedNamesAndSharedPtrForms) {
  using internal::type_matches;
  EXPECT_TRUE(type_matches("app::Session", "Session"));
  EXPECT_TRUE(type_matches("Session", "Session"));
  EXPECT_TRUE(type_matches("app::Session (make_shared)", "Session"));
  EXPECT_TRUE(type_matches("shared_ptr control block of app::Session", "app::Session"));
  EXPECT_FALSE(type_matches("app::SessionManager", "Session"));
  EXPECT_FALSE(type_matches("app::MySession", "Session"));
  EXPECT_FALSE(type_matches("app::Session", ""));
}

TEST(BlockLabels, DisplayType_NamesWhatSharedPtrAndThreadBlocksHold) {
  using internal::display_type;
  EXPECT_EQ(display_type("std::_Sp_counted_ptr_inplace<app::Session, std::allocator<void>, "
                         "(__gnu_cxx::_Lock_policy)2>"),
            "app::Session (make_shared)");
  EXPECT_EQ(display_type("std::_Sp_counted_ptr<app::Node*, (__gnu_cxx::_Lock_policy)2>"),
            "shared_ptr control block of app::Node*");
  EXPECT_EQ(display_type("std::thread::_State_impl<std::thread::_Invoker<std::tuple<app::run()::{lambda()#1}> > >"),
            "std::thread state of app::run");  // the function that defines the callable
  EXPECT_EQ(display_type("app::Session"), "app::Session");
}

}  // namespace syncscope::retain
