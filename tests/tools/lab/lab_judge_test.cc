// The leak judge on synthetic heap series whose answer is known by
// construction: flat with noise, a step, a warm-up that plateaus, linear
// growth, sawtooths, too few samples. Every verdict must be right; the
// series are deterministic (seeded), 100 ms apart like the lab's sampler.
#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <string>

#include <gtest/gtest.h>

#include "detector.h"

namespace syncscope::lab {
namespace {

constexpr double kMiB = 1024.0 * 1024.0;
constexpr double kStep = 0.1;      // seconds between samples
constexpr double kWarmup = 1.0;    // seconds, as Diagnosis::warmup_s
constexpr double kSeconds = 6.0;   // run length: 50 judged samples
constexpr double kBase = 20 * kMiB;  // tolerance = max(1 MiB, 10%) = 2 MiB
constexpr double kTolerance = 2 * kMiB;

// A diagnosis whose heap series is f(t) plus uniform noise of +-noise bytes.
Diagnosis series(const std::function<double(double)>& f, double noise = 0, unsigned seed = 1,
                 double seconds = kSeconds) {
  Diagnosis d;
  d.warmup_s = kWarmup;
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> jitter(-noise, noise);
  for (int i = 0; i * kStep <= seconds + 1e-9; ++i) {
    const double t = i * kStep;
    d.heap.push_back({t, static_cast<std::uint64_t>(std::max(0.0, f(t) + (noise > 0 ? jitter(rng) : 0)))});
  }
  return d;
}

// Judged time (after warm-up) as a fraction of the judged window.
double fraction(double t) { return (t - kWarmup) / (kSeconds - kWarmup); }

TEST(LabJudge, FlatWithNoise_IsNoLeak) {
  for (unsigned seed = 1; seed <= 20; ++seed) {
    const Verdict v = judge(series([](double) { return kBase; }, 0.9 * kTolerance, seed));
    EXPECT_FALSE(v.leak) << "seed " << seed << ": " << v.cause;
    EXPECT_NEAR(static_cast<double>(v.tolerance_bytes), kTolerance, 0.1 * kTolerance);  // 10% of a noisy start
  }
}

// One allocation that stays (a buffer loaded once) is not growth that goes on,
// wherever in the judged window it falls.
TEST(LabJudge, Step_IsNoLeakWhereverItFalls) {
  for (double at = 0.05; at < 1.0; at += 0.05) {
    const Verdict v = judge(series([at](double t) { return kBase + (fraction(t) >= at ? 8 * kMiB : 0); },
                                   0.2 * kMiB, 7));
    EXPECT_FALSE(v.leak) << "step at " << at << ": " << v.cause;
  }
}

// A cache that fills up and then only replaces values: growth during the
// warm-up, or into the first part of the judged window, then flat.
TEST(LabJudge, Plateau_IsNoLeak) {
  for (double full_at : {-0.2, 0.0, 0.1, 0.25, 0.4}) {
    const Verdict v = judge(series(
        [full_at](double t) {
          const double ramp = 12 * kMiB / (full_at + 1.2);  // bytes per unit of fraction
          return kBase + std::min(fraction(t) + 0.2, full_at + 0.2) * ramp;
        },
        0.2 * kMiB, 3));
    EXPECT_FALSE(v.leak) << "full at " << full_at << ": " << v.cause;
  }
}

TEST(LabJudge, Plateau_CauseSaysTheGrowthLevelledOff) {
  const Verdict v = judge(series([](double t) { return kBase + std::min(fraction(t), 0.3) * 20 * kMiB; }));
  EXPECT_FALSE(v.leak);
  EXPECT_GT(v.growth_bytes, static_cast<std::int64_t>(kTolerance));  // grew beyond the tolerance...
  EXPECT_NE(v.cause.find("levelled off"), std::string::npos) << v.cause;  // ...and stopped
}

TEST(LabJudge, LinearGrowth_IsALeak) {
  for (double total : {1.5, 2.0, 4.0, 10.0, 50.0}) {  // growth over the judged window, in tolerances
    for (unsigned seed = 1; seed <= 5; ++seed) {
      const Verdict v = judge(series([total](double t) { return kBase + fraction(t) * total * kTolerance; },
                                     0.2 * kMiB, seed));
      EXPECT_TRUE(v.leak) << total << " tolerances, seed " << seed << ": " << v.cause;
      EXPECT_GT(v.slope_bytes_per_s, 0);
    }
  }
}

// Growth below the tolerance over the run is reported flat (the stated
// tolerance), never as a leak.
TEST(LabJudge, GrowthBelowTheTolerance_IsNoLeak) {
  const Verdict v = judge(series([](double t) { return kBase + fraction(t) * 0.5 * kTolerance; }));
  EXPECT_FALSE(v.leak) << v.cause;
}

// Allocate in bursts, free together (a batch buffer): 0.5 s period,
// 6 MiB amplitude, around a flat baseline.
TEST(LabJudge, SawtoothAroundAFlatBaseline_IsNoLeak) {
  for (double phase = 0; phase < 0.5; phase += 0.1) {
    const Verdict v = judge(series([phase](double t) { return kBase + std::fmod(t + phase, 0.5) / 0.5 * 6 * kMiB; }));
    EXPECT_FALSE(v.leak) << "phase " << phase << ": " << v.cause;
  }
}

// The same sawtooth on a baseline that keeps rising is a leak.
TEST(LabJudge, SawtoothOnARisingBaseline_IsALeak) {
  const Verdict v = judge(series(
      [](double t) { return kBase + fraction(t) * 3 * kTolerance + std::fmod(t, 0.5) / 0.5 * 6 * kMiB; }));
  EXPECT_TRUE(v.leak) << v.cause;
}

// Growth confined to the warm-up is not judged.
TEST(LabJudge, GrowthOnlyDuringWarmup_IsNoLeak) {
  const Verdict v = judge(series([](double t) { return kBase + std::min(t, kWarmup) * 40 * kMiB; }));
  EXPECT_FALSE(v.leak) << v.cause;
}

TEST(LabJudge, TooFewSamples_GivesNoVerdict) {
  // 3 samples after warm-up, growing fast: still no verdict.
  const Verdict v = judge(series([](double t) { return kBase + t * 100 * kMiB; }, 0, 1, kWarmup + 0.25));
  EXPECT_FALSE(v.leak);
  EXPECT_NE(v.cause.find("too few"), std::string::npos) << v.cause;
  Diagnosis empty;
  EXPECT_FALSE(judge(empty).leak);
}

}  // namespace
}  // namespace syncscope::lab
