// ProfileBuilder + Symbolizer + capture_stack, checked end to end by the real
// `go tool pprof`: a profile built from stacks captured in known functions
// must show those functions, their file:line, and the relative weights given.
#include "syncscope/prof/profile_builder.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <csignal>
#include <cstring>

#include "support/go_pprof.h"
#include "support/text_match.h"
#include "syncscope/prof/stack_trace.h"
#include "syncscope/prof/symbolizer.h"

namespace syncscope::prof {
namespace {

using ::testing::HasSubstr;
using ::syncscope::test_support::contains_match;
using ::syncscope::test_support::go_pprof;
using ::syncscope::test_support::match_whole;
using ::syncscope::test_support::ScratchDir;

struct Stack {
  std::uintptr_t pcs[kMaxStackDepth];
  int depth = 0;
};

volatile int g_distinct = 0;  // distinct side effects keep ICF from merging the leaves

__attribute__((noipa)) Stack builder_leaf_alpha() {
  g_distinct = 1;
  Stack s;
  s.depth = capture_stack(s.pcs, kMaxStackDepth, 0);
  asm volatile("" ::: "memory");  // keep the call non-tail
  return s;
}

__attribute__((noipa)) Stack builder_leaf_beta() {
  g_distinct = 2;
  Stack s;
  s.depth = capture_stack(s.pcs, kMaxStackDepth, 0);
  asm volatile("" ::: "memory");
  return s;
}

TEST(StackTrace, CaptureStack_FirstFrameIsCaller) {
  Stack s = builder_leaf_alpha();
  ASSERT_GT(s.depth, 2);
  std::vector<SymbolFrame> frames = Symbolizer::instance().symbolize(s.pcs[0] - 1);
  ASSERT_FALSE(frames.empty());
  EXPECT_THAT(frames.back().function, HasSubstr("builder_leaf_alpha"));
  EXPECT_THAT(frames.back().file, HasSubstr("profile_builder_test.cc"));
  EXPECT_GT(frames.back().line, 0);
}

thread_local Stack g_signal_stack;

void on_signal(int, siginfo_t*, void* ctx) {
  g_signal_stack.depth =
      capture_stack_from_context(static_cast<const ucontext_t*>(ctx), g_signal_stack.pcs,
                                 kMaxStackDepth);
}

__attribute__((noipa)) void raise_in_known_function() {
  raise(SIGUSR1);
  asm volatile("" ::: "memory");
}

TEST(StackTrace, CaptureFromContext_UnwindsInterruptedThread) {
  struct sigaction sa {};
  sa.sa_sigaction = on_signal;
  sa.sa_flags = SA_SIGINFO;
  struct sigaction old {};
  ASSERT_EQ(sigaction(SIGUSR1, &sa, &old), 0);
  raise_in_known_function();
  sigaction(SIGUSR1, &old, nullptr);
  ASSERT_GT(g_signal_stack.depth, 1);
  bool found = false;
  for (int i = 0; i < g_signal_stack.depth; ++i) {
    for (const SymbolFrame& f : Symbolizer::instance().symbolize(g_signal_stack.pcs[i] - 1)) {
      if (f.function.find("raise_in_known_function") != std::string::npos) found = true;
    }
  }
  EXPECT_TRUE(found);
}

TEST(Symbolizer, Modules_IncludeExecutableWithBuildId) {
  std::vector<LoadedModule> mods = Symbolizer::instance().modules();
  ASSERT_FALSE(mods.empty());
  EXPECT_THAT(mods.front().path, HasSubstr("prof_profile_builder_test"));
  EXPECT_TRUE(match_whole(mods.front().build_id, "[0-9a-f]{40}").has_value()) << mods.front().build_id;
  EXPECT_LT(mods.front().start, mods.front().limit);
}

// Inlined frames: an always_inline helper must appear as its own frame,
// inlined into its caller, with both names resolved.
__attribute__((always_inline)) inline Stack inlined_helper() {
  Stack s;
  s.depth = capture_stack(s.pcs, kMaxStackDepth, 0);
  return s;
}

__attribute__((noipa)) Stack outer_with_inline() {
  g_distinct = 3;
  Stack s = inlined_helper();
  asm volatile("" ::: "memory");
  return s;
}

TEST(Symbolizer, Symbolize_ExpandsInlinedFrames) {
  Stack s = outer_with_inline();
  ASSERT_GT(s.depth, 0);
  std::vector<SymbolFrame> frames = Symbolizer::instance().symbolize(s.pcs[0] - 1);
  ASSERT_GE(frames.size(), 2u);
  EXPECT_THAT(frames[0].function, HasSubstr("inlined_helper"));
  EXPECT_TRUE(frames[0].inlined);
  EXPECT_THAT(frames.back().function, HasSubstr("outer_with_inline"));
  EXPECT_FALSE(frames.back().inlined);
}

TEST(ProfileBuilder, GoToolPprofTop_ShowsFunctionsAndWeights) {
  ScratchDir dir;
  Stack a = builder_leaf_alpha();
  Stack b = builder_leaf_beta();
  ProfileBuilder builder({{"alloc_space", "bytes"}, {"inuse_space", "bytes"}},
                         {"space", "bytes"}, 524288, "inuse_space");
  const std::int64_t va[] = {3000, 3000};
  const std::int64_t vb[] = {1000, 1000};
  builder.add_sample({a.pcs, static_cast<size_t>(a.depth)}, va);
  builder.add_sample({b.pcs, static_cast<size_t>(b.depth)}, vb,
                     std::vector<SampleLabel>{{"bytes", "", 64, "bytes"}});
  const NamedFrame named[] = {{"holder::leaf", "holder.cc", 7}, {"holder::root", "", 0}};
  const std::int64_t vn[] = {500, 500};
  builder.add_named_sample(named, vn);
  builder.add_comment("syncscope test profile");
  const std::string path = dir.file("heap.pb.gz");
  const absl::Status written = builder.write_file(path);
  ASSERT_TRUE(written.ok()) << written;

  int status = 0;
  std::string top = go_pprof(dir, "-top -nodecount=50", path, &status);
  ASSERT_EQ(status, 0) << top;
  EXPECT_THAT(top, HasSubstr("Type: inuse_space"));
  // flat bytes: alpha 3000 (66.67% of 4500), beta 1000 (22.22%).
  EXPECT_TRUE(contains_match(top, R"(3000B\s+66\.67%.*builder_leaf_alpha)")) << top;
  EXPECT_TRUE(contains_match(top, R"(1000B\s+22\.22%.*builder_leaf_beta)")) << top;
  EXPECT_THAT(top, HasSubstr("holder::leaf"));

  std::string traces = go_pprof(dir, "-traces", path, &status);
  ASSERT_EQ(status, 0) << traces;
  EXPECT_THAT(traces, HasSubstr("builder_leaf_alpha"));
  EXPECT_THAT(traces, HasSubstr("holder::root"));

  std::string lines = go_pprof(dir, "-top -lines", path, &status);
  ASSERT_EQ(status, 0) << lines;
  EXPECT_TRUE(contains_match(lines, R"(builder_leaf_alpha.*profile_builder_test\.cc:\d+)")) << lines;
}

TEST(ProfileBuilder, AddSample_WrongValueCount_Throws) {
  ProfileBuilder builder({{"a", "count"}, {"b", "bytes"}}, {"space", "bytes"}, 1);
  const std::int64_t one[] = {1};
  EXPECT_THROW(builder.add_named_sample({}, one), std::invalid_argument);
}

TEST(ProfileBuilder, UnknownDefaultSampleType_Throws) {
  EXPECT_THROW(ProfileBuilder({{"a", "count"}}, {"space", "bytes"}, 1, "nope"),
               std::invalid_argument);
}

}  // namespace
}  // namespace syncscope::prof
