// The sampler's own logarithm, 1 - exp(-x) and rounding (sampling_math.h)
// against libm, the oracle: over the whole range the sampler passes
// ((0, 1] for the logarithm, size / rate for the weight) and the edges.
#include "prof/sampling_math.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>

namespace syncscope::prof::internal {
namespace {

// |a - b| within `ulps` units in the last place of b.
::testing::AssertionResult within_ulps(double a, double b, double ulps) {
  const double ulp = std::nextafter(std::fabs(b), std::numeric_limits<double>::infinity()) - std::fabs(b);
  if (std::fabs(a - b) <= ulps * ulp) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << a << " vs libm " << b << ": " << std::fabs(a - b) / ulp << " ulps";
}

TEST(SamplingMath, NaturalLog_MatchesLibmOverTheSamplersRangeAndBeyond) {
  std::mt19937_64 rng(7);
  // The sampler's u: 53 random bits scaled into (0, 1].
  for (int i = 0; i < 200000; ++i) {
    const double u = static_cast<double>((rng() >> 11) + 1) * 0x1.0p-53;
    ASSERT_TRUE(within_ulps(natural_log(u), std::log(u), 2)) << u;
  }
  // Every binade from subnormals to the largest doubles, and near 1.
  for (double x = std::numeric_limits<double>::denorm_min(); x < 1e308; x *= 1.7) {
    ASSERT_TRUE(within_ulps(natural_log(x), std::log(x), 2)) << x;
  }
  for (double x : {1.0, 1 - 0x1p-53, 1 + 0x1p-52, 0.5, 2.0, std::sqrt(2.0), std::sqrt(0.5), 0x1p-53}) {
    EXPECT_TRUE(within_ulps(natural_log(x), std::log(x), 2)) << x;
  }
  EXPECT_EQ(natural_log(0.0), -std::numeric_limits<double>::infinity());
  EXPECT_EQ(natural_log(std::numeric_limits<double>::infinity()), std::numeric_limits<double>::infinity());
  EXPECT_TRUE(std::isnan(natural_log(-1.0)));
  EXPECT_TRUE(std::isnan(natural_log(std::numeric_limits<double>::quiet_NaN())));
}

TEST(SamplingMath, OneMinusExpNeg_MatchesLibmsExpm1) {
  // size / rate for sizes of 1 byte .. 1 TiB at rates of 1 .. 2^40, and the
  // switch between the series and the reduction at 0.5.
  for (double x = 1e-15; x < 800; x *= 1.05) {
    ASSERT_TRUE(within_ulps(one_minus_exp_neg(x), -std::expm1(-x), 4)) << x;
  }
  for (double x : {0.0, 0.4999999999, 0.5, 0.5000000001, 1.0, 36.0, 37.5, 745.0, 746.0, 1e300}) {
    EXPECT_TRUE(within_ulps(one_minus_exp_neg(x), -std::expm1(-x), 4)) << x;
  }
  EXPECT_TRUE(std::isnan(one_minus_exp_neg(-1.0)));
}

TEST(SamplingMath, RoundToInt64_MatchesLlround) {
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> wide(-1e15, 1e15), narrow(-4, 4);
  for (int i = 0; i < 100000; ++i) {
    const double a = wide(rng), b = narrow(rng);
    ASSERT_EQ(round_to_int64(a), std::llround(a)) << a;
    ASSERT_EQ(round_to_int64(b), std::llround(b)) << b;
  }
  for (double x : {0.0, 0.5, -0.5, 1.5, -1.5, 2.5, 0.49999999999999994, -0.49999999999999994, 4503599627370495.5,
                   9007199254740993.0, 1e18, -1e18}) {
    EXPECT_EQ(round_to_int64(x), std::llround(x)) << x;
  }
}

}  // namespace
}  // namespace syncscope::prof::internal
